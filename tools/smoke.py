"""Run notebooks' ``gpu`` code on a CPU in seconds, to catch what would fail in front of a Colab learner.

``python tools/smoke.py [--timeout S] NB.ipynb ...`` (``make smoke``) executes each notebook top to bottom
in a fresh kernel with ``MINIDIFF_BUDGET=gpu`` and ``MINIDIFF_SMOKE=1``: every ``pick()`` gives its ``gpu``
value (presets, datasets, resolutions), while training, sampling and ``count()`` are capped to a couple of
iterations (the mechanism lives in ``minidiff.settings``). Outputs are neither compared nor written back.
It stops at the first notebook with an error and names it, the cell (its index among the code cells, as
JupyterLab numbers them from 1, and its first line) and the exception; exit status 1. On success it prints
each notebook's time and the total.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ENVIRONMENT = {"MINIDIFF_BUDGET": "gpu", "MINIDIFF_SMOKE": "1", "MINIDIFF_LIVE": "0"}


def failed_cell(nb) -> str:
    """'code cell N (first line ...)' for the first code cell that stored an error, or '' if none did."""
    for number, cell in enumerate(_code(nb), start=1):
        if any(output.get("output_type") == "error" for output in cell.get("outputs", [])):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            return f"code cell {number} (starting {first[:80]!r})"
    return ""


def smoke(ipynb: Path, timeout: int) -> float:
    """Execute ``ipynb`` in memory in smoke mode; return its seconds. Raises ``SmokeFailure``."""
    nb = nbformat.read(ipynb, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(ipynb.parent)}})  # fmt: skip
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as error:
        where = failed_cell(nb) or "a cell (timed out)"
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the traceback's terminal colours
        last = [line for line in text.strip().splitlines() if line.strip()]
        raise SmokeFailure(f"{ipynb}: {where} failed in smoke mode: {last[-1] if last else error}") from None
    seconds = time.perf_counter() - start
    slow = sorted(((_seconds(c), n) for n, c in enumerate(_code(nb), start=1)), reverse=True)[:3]
    print("smoke:   slowest code cells: " + ", ".join(f"{n} ({t:.0f} s)" for t, n in slow), flush=True)
    return seconds


def _code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _seconds(cell) -> float:
    times = cell.get("metadata", {}).get("execution", {})
    if not {"iopub.execute_input", "shell.execute_reply"} <= set(times):
        return 0.0
    start, end = (datetime.fromisoformat(times[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))  # fmt: skip
    return (end - start).total_seconds()


class SmokeFailure(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=300, help="seconds a cell may run (default 300)")
    args = parser.parse_args(argv)
    os.environ.update(ENVIRONMENT)  # the kernels inherit them
    os.environ.pop("MPLBACKEND", None)
    times = {}
    for ipynb in args.notebooks:
        print(f"smoke: {ipynb} ...", flush=True)
        try:
            times[ipynb] = smoke(ipynb, args.timeout)
        except SmokeFailure as failure:
            print(f"smoke: FAILED {failure}", file=sys.stderr, flush=True)
            return 1
        print(f"smoke: {ipynb} ran in {times[ipynb]:.0f} s", flush=True)
    print(f"smoke: {len(times)} notebooks ran in smoke mode (gpu budget) in {sum(times.values()):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
