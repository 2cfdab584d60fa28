"""The workbooks (``workbooks/NN_slug.ipynb``, written by ``make sync`` from the chapters' ``exercise``
cells): every check cell fails on the stubs with one line that names what to write (no traceback into
the package) and passes on the chapter's own code.

Runs in this process, no kernel: of the cells before the last check, only the exercise and check cells run
whole; the others contribute their imports and definitions (nothing trains). That the workbooks are up to
date with their chapters is tests/test_notebooks.py's ``sync --check``.
"""

from __future__ import annotations

import ast
import re
import traceback
from pathlib import Path

import jupytext
import matplotlib
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKBOOKS = sorted((ROOT / "workbooks").glob("*.ipynb"))
CHECK = re.compile(r"\bchecks\.check_\w+\(")
NOT_WRITTEN = re.compile(r"(?P<name>[\w.]+) is not written yet: (?P<hint>.+)")
NO_WORKBOOKS = pytest.param(None, marks=pytest.mark.skip(reason="no chapter has `exercise` cells yet"))
each_workbook = pytest.mark.parametrize(
    "path", WORKBOOKS or [NO_WORKBOOKS], ids=lambda p: getattr(p, "stem", p)
)


def _is_exercise(cell) -> bool:
    return cell.cell_type == "code" and "exercise" in cell.metadata.get("tags", [])


def _is_check(cell) -> bool:
    return cell.cell_type == "code" and bool(CHECK.search(cell.source))


def _definitions(source: str, filename: str):
    """A cell's imports, functions, classes and call-free assignments: what later cells may use, cheaply."""
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a cell with IPython magics: nothing an exercise could need
        return None
    body = [
        node
        for node in tree.body
        if isinstance(node, keep)
        or (isinstance(node, ast.Assign) and not any(isinstance(n, ast.Call) for n in ast.walk(node.value)))
    ]
    return compile(ast.Module(body=body, type_ignores=[]), filename, "exec")


def run_checks(cells, label: str) -> dict[int, BaseException | None]:
    """Run ``cells`` as described above; return each check cell's error (None when it passed)."""
    matplotlib.use("Agg")
    checks = [i for i, cell in enumerate(cells) if _is_check(cell)]
    namespace, results = {"__name__": "__main__"}, {}
    for index, cell in enumerate(cells[: max(checks, default=-1) + 1]):
        if cell.cell_type != "code":
            continue
        filename = f"<{label}, cell {index}>"
        whole = _is_exercise(cell) or _is_check(cell)
        code = compile(cell.source, filename, "exec") if whole else _definitions(cell.source, filename)
        try:
            if code is not None:
                exec(code, namespace)
        except Exception as error:
            if index not in checks:
                raise AssertionError(
                    f"{label}, cell {index} raised {type(error).__name__}: {error} — an `exercise` cell "
                    "may only define the learner's code and check it (move other uses of it to a cell of "
                    "their own), and the cells before it must give it what it needs through imports, "
                    "definitions and constants (no calls)"
                ) from error
            results[index] = error
        else:
            if index in checks:
                results[index] = None
    return results


def _cells(path: Path):
    stubs = nbformat.read(path, as_version=4).cells
    chapter = jupytext.read(ROOT / "chapters" / f"{path.stem}.py").cells
    assert [c.cell_type for c in stubs] == [c.cell_type for c in chapter], f"{path}: run `make sync`"
    return stubs, chapter


@each_workbook
def test_each_check_fails_on_the_stubs_with_what_to_write(path):
    stubs, _ = _cells(path)
    hints = set(re.findall(r'raise NotImplementedError\((".*")\)', "\n".join(c.source for c in stubs)))
    hints = {ast.literal_eval(hint) for hint in hints}
    results = run_checks(stubs, f"workbooks/{path.name}")
    assert results, f"{path.name} has exercises but no cell that calls `checks.check_...`"
    for index, error in results.items():
        where = f"workbooks/{path.name}, cell {index} ({stubs[index].source.splitlines()[-1]!r})"
        assert error is not None, (
            f"{where} passes on the stubs: tag the cell that defines what it checks `exercise`"
        )
        found = NOT_WRITTEN.fullmatch(str(error))
        assert isinstance(error, AssertionError) and found, f"{where}: {type(error).__name__}: {error}"
        assert found["hint"] in hints, f"{where}: the hint {found['hint']!r} is not a stub's"
        assert error.__suppress_context__ and error.__cause__ is None, (
            f"{where}: traceback chained to the stub"
        )
        inside = [
            f for f in traceback.extract_tb(error.__traceback__) if "minidiff" in Path(f.filename).parts
        ]
        assert len(inside) == 1, f"{where}: the traceback goes into the package: {inside}"


@each_workbook
def test_each_check_passes_on_the_chapters_own_code(path):
    _, chapter = _cells(path)
    for index, error in run_checks(chapter, f"chapters/{path.stem}.py").items():
        assert error is None, f"chapters/{path.stem}.py, cell {index}: {type(error).__name__}: {error}"
