"""Execute notebooks in place and stamp what produced their stored outputs (``make notebooks``).

``python tools/stamp.py [--timeout S] NB.ipynb ...`` first checks every notebook can be stamped (its first
markdown cell has a ``**Stored outputs:**`` line and its last code cell is ``print(minidiff.run_summary())``)
and stops before running anything if one cannot. Then, one notebook at a time, it executes the notebook with
nbclient (each cell's start and end kept in its ``metadata.execution``), replaces each tqdm progress widget
by the text of its final state (a static page shows a widget's first state, "0%"), and writes

    **Stored outputs:** budget `cpu`, CPU x86_64 (2 cores), 12.6 min from kernel start to the last cell.

into the first markdown cell of the .ipynb and of its paired .py: budget and hardware as the last cell
printed them, the minutes measured here around the whole run (kernel start included), so the cells' own
times can never add up to more than the stamp (tests/test_notebooks.py checks it).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BADGE_MARK = "colab.research.google.com/assets/colab-badge.svg"
SUMMARY_CALL = "print(minidiff.run_summary())"
SUMMARY = re.compile(r"^budget `(?P<budget>quick|cpu|gpu)`, (?P<hardware>.+), [\d.]+ min$", re.MULTILINE)
LINE = re.compile(r"^(# )?\*\*Stored outputs:\*\*.*$", re.MULTILINE)
STAMP = re.compile(
    r"\*\*Stored outputs:\*\* budget `(?P<budget>quick|cpu|gpu)`, (?P<hardware>.+), (?P<minutes>[\d.]+) min"
)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
STOPPED = "(stopped early)"  # appended to a bar whose run ended before its total
# A tqdm bar as text: "train:  40%|████      | 400/1000 [...]" (n/total may be unit-scaled: "1.2k/3.0k").
BAR = re.compile(r"\d+%\|[^|\n]*\|\s*(?P<n>[\d.]+[kMGTPEZY]?)/(?P<total>[\d.]+[kMGTPEZY]?)")


# ---------------------------------------------------------------- before executing


def header_cell(nb):
    """The notebook's first markdown cell after the Colab badge: title, intro, run time, stored outputs."""
    return next((c for c in nb.cells if c.cell_type == "markdown" and BADGE_MARK not in c.source), None)


def last_code_cell(nb):
    return next((c for c in reversed(nb.cells) if c.cell_type == "code" and c.source.strip()), None)


def problems(ipynb: Path) -> list[str]:
    """What stops ``ipynb`` from being stamped, each with its fix (empty: it can be executed and stamped)."""
    if not ipynb.exists():
        return [f"{ipynb}: no such notebook"]
    nb = nbformat.read(ipynb, as_version=4)
    source = ipynb.with_suffix(".py")
    edit, comment = (f"in {source} (then `make sync`)", "# ") if source.exists() else (f"in {ipynb}", "")
    found = []
    header = header_cell(nb)
    if header is None or not LINE.search(header.source):
        found.append(
            f"{ipynb}: its first markdown cell (title and intro) has no `**Stored outputs:**` line. "
            f"Add, {edit}, after the `**Run time:**` line, a blank line and then the line\n"
            f"    {comment}**Stored outputs:** (written by `make notebooks`)"
        )
    last = last_code_cell(nb)
    if last is None or SUMMARY_CALL not in last.source:
        found.append(
            f"{ipynb}: its last code cell must print `{SUMMARY_CALL}` (budget and hardware for the stamp). "
            f"Add, {edit}, at the end:\n"
            + ('    # %% tags=["nbval-ignore-output"]\n' if source.exists() else "")
            + f"    {SUMMARY_CALL}"
        )
    if source.exists() and not LINE.search(source.read_text()):
        found.append(f"{source}: no `**Stored outputs:**` line to stamp: add it as above, then `make sync`")
    return found


# ---------------------------------------------------------------- executing


class _Client(NotebookClient):
    """nbclient's executor, noting which widgets were closed (tqdm closes a ``leave=False`` bar)."""

    closed: set[str]

    def handle_comm_msg(self, outs, msg, cell_index) -> None:
        if msg["msg_type"] == "comm_close":
            self.closed.add(msg["content"]["comm_id"])
        super().handle_comm_msg(outs, msg, cell_index)


def execute(nb, cwd: Path, timeout: int | None) -> tuple[float, set[str]]:
    """Run every cell of ``nb`` in a fresh kernel; return (seconds from kernel start to the last cell, closed
    widgets). Raises ``CellExecutionError`` with the failing cell's traceback."""
    nb.metadata.pop("widgets", None)  # only this run's widgets are stored
    ends: list[float] = []
    client = _Client(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,  # metadata.execution of each cell: anyone can add the cells up and compare
        coalesce_streams=True,  # a text progress bar keeps only its last state ("\r" resolved)
        resources={"metadata": {"path": str(cwd)}},
        on_cell_executed=lambda **_: ends.append(time.perf_counter()),
    )
    client.closed = set()
    os.environ["MINIDIFF_RUN_STARTED"] = repr(time.time())  # the kernel inherits it (run_summary may use it)
    start = time.perf_counter()
    client.execute()
    return (ends[-1] if ends else time.perf_counter()) - start, client.closed


# ---------------------------------------------------------------- progress bars


def _tqdm_parts(state: dict, model_id: str):
    """The three children (text, bar, text) of a tqdm.notebook bar, or None for another widget."""
    model = state.get(model_id, {})
    if model.get("model_name") != "HBoxModel":
        return None
    children = [c.removeprefix("IPY_MODEL_") for c in model.get("state", {}).get("children", [])]
    names = [state.get(c, {}).get("model_name") for c in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    return [state[c]["state"] for c in children]


def bar_text(left: dict, bar: dict, right: dict) -> str:
    """A tqdm widget's final state as tqdm's text bar prints it: ``train: 100%|██████████| 600/600 [...]``."""

    def text(part: dict) -> str:
        return html.unescape(part.get("value", "")).replace("\u2007", " ")

    total, value = float(bar.get("max", 0) or 0), float(bar.get("value", 0) or 0)
    frac = min(max(value / total, 0.0), 1.0) if total > 0 else 0.0
    eighths = round(frac * 80)
    meter = "█" * (eighths // 8) + (" ▏▎▍▌▋▊▉"[eighths % 8] if eighths % 8 else "")
    return mark_unfinished(f"{text(left)}|{meter.ljust(10)}|{text(right)}")


def unfinished_bars(text: str) -> list[str]:
    """The lines of ``text`` (a cell's output) that show a progress bar short of its total."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]  # what a terminal would show
    return [line for line in lines if (bar := BAR.search(line)) and bar["n"] != bar["total"]]


def mark_unfinished(text: str) -> str:
    """Say so on each bar that ended short of its total: after the run nothing will move it any more."""
    lines = text.split("\n")
    return "\n".join(
        f"{line}  {STOPPED}" if unfinished_bars(line) and STOPPED not in line else line for line in lines
    )


def finish_progress_bars(nb, closed: set[str]) -> int:
    """Replace each tqdm widget output by its final text (drop bars tqdm closed itself: ``leave=False``),
    mark bars that stopped short (widgets and text bars), keep only the widget state other outputs still
    show. Returns how many widgets were replaced."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            view = (
                output.get("data", {}).get(WIDGET_VIEW)
                if output.get("output_type") == "display_data"
                else None
            )
            parts = _tqdm_parts(state, view["model_id"]) if view else None
            if parts is None:
                outputs.append(output)
                continue
            replaced += 1
            if view["model_id"] not in closed:
                outputs.append(nbformat.v4.new_output("display_data", data={"text/plain": bar_text(*parts)}))
        for output in outputs:
            if output.get("output_type") == "stream":
                output["text"] = mark_unfinished(output["text"])
        if cell.cell_type == "code":
            cell.outputs = outputs
    _keep_shown_widgets(nb, state)
    return replaced


def _keep_shown_widgets(nb, state: dict) -> None:
    """Drop the saved state of widgets no output shows any more (and everything they alone referred to)."""
    todo = [
        output["data"][WIDGET_VIEW]["model_id"]
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if WIDGET_VIEW in output.get("data", {})
    ]
    keep: set[str] = set()
    while todo:
        model_id = todo.pop()
        if model_id in keep or model_id not in state:
            continue
        keep.add(model_id)
        todo += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model_id]))
    if keep:
        nb.metadata.widgets[WIDGET_STATE]["state"] = {k: v for k, v in state.items() if k in keep}
    else:
        nb.metadata.pop("widgets", None)


# ---------------------------------------------------------------- stamping


def stamp_line(nb, seconds: float) -> str:
    """``**Stored outputs:** budget `cpu`, <hardware>, N.N min from kernel start to the last cell.``"""
    last = last_code_cell(nb)
    printed = "".join(o.get("text", "") for o in last.get("outputs", []) if o.get("output_type") == "stream")
    found = SUMMARY.search(printed)
    if not found:
        raise SystemExit(
            f"the last cell ran but printed no run summary (`{SUMMARY_CALL}`); it printed {printed!r}"
        )
    return (
        f"**Stored outputs:** budget `{found['budget']}`, {found['hardware']}, {seconds / 60:.1f} min "
        "from kernel start to the last cell."
    )


def write(ipynb: Path, nb, line: str) -> None:
    """Write the executed notebook with its stamp, and the same stamp into the paired .py source."""
    header = header_cell(nb)
    header.source = LINE.sub(lambda _: line, header.source, count=1)
    nbformat.write(nb, ipynb)
    source = ipynb.with_suffix(".py")
    if source.exists():
        source.write_text(LINE.sub(lambda _: "# " + line, source.read_text(), count=1))


def run(ipynb: Path, timeout: int | None) -> str:
    nb = nbformat.read(ipynb, as_version=4)
    seconds, closed = execute(nb, ipynb.parent, timeout)
    bars = finish_progress_bars(nb, closed)
    line = stamp_line(nb, seconds)
    write(ipynb, nb, line)
    return f"{line}{f' ({bars} progress bars stored as their final text)' if bars else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds a cell may run (default 3600)")
    parser.add_argument("--check", action="store_true", help="only check the notebooks can be stamped")
    args = parser.parse_args(argv)
    found = [problem for ipynb in args.notebooks for problem in problems(ipynb)]
    if found:
        print("\n".join(["stamp: nothing was executed:", *found]), file=sys.stderr)
        return 2
    if args.check:
        return 0
    for ipynb in args.notebooks:
        budget = os.environ.get("MINIDIFF_BUDGET", "(default)")
        print(f"executing {ipynb} with MINIDIFF_BUDGET={budget}", flush=True)
        try:
            print(f"{ipynb}: {run(ipynb, args.timeout)}", flush=True)
        except CellExecutionError as error:
            print(f"{ipynb}: a cell failed; the notebook was left as it was:\n{error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
