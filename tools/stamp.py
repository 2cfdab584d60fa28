"""Copy what produced a notebook's stored outputs into its first markdown cell (run by `make notebooks`).

Every chapter ends with ``print(minidiff.run_summary())`` (budget, hardware, wall time). After a notebook is
executed this finds that printed line and writes it into the line ``**Stored outputs:** …`` of the notebook's
first markdown cell, in both the .ipynb and its paired .py source, so the number is one the code printed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

SUMMARY = re.compile(r"^budget `(quick|cpu|gpu)`, .+ min$", re.MULTILINE)
LINE = re.compile(r"^(# )?\*\*Stored outputs:\*\*.*$", re.MULTILINE)


def summary(nb) -> str:
    for cell in reversed(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream" and (found := SUMMARY.search(output.get("text", ""))):
                return found.group(0)
    raise SystemExit("no `print(minidiff.run_summary())` output found: add it as the notebook's last cell")


def stamp(ipynb: Path) -> str:
    nb = nbformat.read(ipynb, as_version=4)
    line = f"**Stored outputs:** {summary(nb)}."
    first = next(cell for cell in nb.cells if cell.cell_type == "markdown" and LINE.search(cell.source))
    first.source = LINE.sub(line, first.source, count=1)
    nbformat.write(nb, ipynb)
    source = ipynb.with_suffix(".py")
    text = source.read_text()
    if not LINE.search(text):
        raise SystemExit(f"{source}: no '**Stored outputs:**' line in its first markdown cell")
    source.write_text(LINE.sub(lambda m: "# " + line, text, count=1))
    return line


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {stamp(Path(arg))}")
