"""The committed notebooks, as a learner and the book see them.

Every generated file (badges, set-up cells, .ipynb pairs, workbooks, book config and toc, the chapter tables)
is checked by one test: ``tools/sync.py --check``. The others check what no generator writes: each notebook
was executed top to bottom and stamped by that run, its header claims no measured time but the stamp, no
control character hides in a cell, no stored progress bar looks unfinished, the Colab pin is a release.
Fix most failures with ``make sync``, then ``make notebooks BUDGET=cpu NB=<notebook>``.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import unicodedata
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from minidiff.settings import VERSION

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("chapters", "solutions") for p in (ROOT / d).glob("[0-9]*.ipynb"))
SOURCES = sorted(
    p
    for d in ("chapters", "solutions", "minidiff", "tools", "tests", "benchmarks")
    for p in (ROOT / d).rglob("*.py")
)
each_notebook = pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks yet"))],
    ids=lambda p: str(p.relative_to(ROOT)) if p else "none",
)
RUN_TIME = re.compile(r"\*\*Run time:\*\*(?P<text>.*?)(?:\n\s*\n|$)", re.DOTALL)
CPU_BOUND = re.compile(r"`cpu` ≤ (?P<minutes>[\d.]+) min")


def _load_tool(name: str):
    """tools/<name>.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"minidiff_tools_{name}", ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stamp = _load_tool("stamp")


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _fix(path: Path) -> str:
    return f"run `make notebooks BUDGET=cpu NB={path.relative_to(ROOT)}` (or BUDGET=gpu) to store a real run"


# ---------------------------------------------------------------- generated files: one test


def test_generated_files_are_up_to_date():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync.py"), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, f"tools/sync.py --check:\n{done.stdout}{done.stderr}"


def test_the_colab_pin_is_a_release_or_a_commit():
    ref = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["minidiff"]["ref"]
    assert ref == f"v{VERSION}" or re.fullmatch(r"[0-9a-f]{40}", ref), (
        f"[tool.minidiff] ref = {ref!r}: set it to 'v{VERSION}' (minidiff.settings.VERSION; see README, "
        "Releasing) or a 40-hex commit, then `make sync` — a branch would install another day's package"
    )


# ---------------------------------------------------------------- each notebook, as stored


@each_notebook
def test_notebook_was_executed_top_to_bottom(path):
    name = path.relative_to(ROOT)
    code = [c for c in _read(path).cells if c.cell_type == "code" and c.source.strip()]
    unexecuted = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not unexecuted, f"{name}: code cells {unexecuted} were never executed: {_fix(path)}"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{name}: cells ran out of order ({counts}): {_fix(path)}"
    errors = [c.source.splitlines()[0] for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"{name} stores an error in the cell starting {errors[0]!r}: fix it, then {_fix(path)}"


@each_notebook
def test_header_states_run_time_and_only_the_stamp_is_measured(path):
    name = path.relative_to(ROOT)
    nb = _read(path)
    assert not stamp.problems(path), "\n".join(stamp.problems(path))
    header = stamp.header_cell(nb).source
    run_time = RUN_TIME.search(header)
    assert run_time, (
        f"{name}: the first markdown cell needs a `**Run time:**` line (format in README, 'Adding or "
        "changing a chapter'): `quick` < 1 min (CI, 2 CPU cores) · `cpu` ≤ N min on a 2-core laptop CPU · "
        "`gpu` ≈ M min on a Colab T4 (estimated, not measured)."
    )
    claims = run_time["text"].replace("not measured", "")
    assert "measured" not in claims.lower(), (
        f"{name}: the **Run time:** line claims a measured time; give bounds and estimates there "
        f"(the one measured time is the **Stored outputs:** stamp):\n{run_time.group(0)}"
    )


@each_notebook
def test_stamp_is_this_runs_whole_wall_time(path):
    """The stamp (kernel start to last cell, measured by tools/stamp.py) covers every cell's own time."""
    name = path.relative_to(ROOT)
    nb = _read(path)
    stamped = stamp.STAMP.search(stamp.header_cell(nb).source)
    assert stamped, f"{name} has no stamp from `make notebooks`: {_fix(path)}"
    times = [c.metadata.get("execution", {}) for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    missing = [i for i, t in enumerate(times) if not {"iopub.execute_input", "shell.execute_reply"} <= set(t)]
    assert not missing, f"{name}: code cells {missing} carry no timing (executed elsewhere?): {_fix(path)}"

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    cells = sum((at(t["shell.execute_reply"]) - at(t["iopub.execute_input"])).total_seconds() for t in times)
    span = (at(times[-1]["shell.execute_reply"]) - at(times[0]["iopub.execute_input"])).total_seconds()
    minutes = float(stamped["minutes"])
    assert cells <= span + 1 and span / 60 <= minutes + 0.05, (
        f"{name}: its cells took {cells / 60:.2f} min ({span / 60:.2f} min first to last) but the stamp "
        f"says {minutes} min: the stamp is not this run's: {_fix(path)}"
    )
    assert minutes <= span / 60 + 0.5, f"{name}: stamped {minutes} min, the cells ran {span / 60:.2f} min"
    run_time = RUN_TIME.search(stamp.header_cell(nb).source)
    bound = CPU_BOUND.search(run_time["text"]) if run_time else None
    if stamped["budget"] == "cpu" and bound:
        assert minutes <= float(bound["minutes"]), (
            f"{name}: the header says `cpu` ≤ {bound['minutes']} min; the stored cpu run took {minutes} min"
        )


@each_notebook
def test_no_stored_progress_bar_looks_unfinished(path):
    """A static page shows a widget's text/plain: tools/stamp.py stores each bar's final state instead."""
    name = path.relative_to(ROOT)
    for index, cell in enumerate(_read(path).cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
            shown = [line for line in stamp.unfinished_bars(text) if stamp.STOPPED not in line]
            assert not shown, f"{name}, cell {index} shows an unfinished bar {shown[0]!r}: {_fix(path)}"


# ---------------------------------------------------------------- every source and notebook


def _control_characters(text: str) -> list[str]:
    return sorted({repr(ch) for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"})


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_control_characters_in_sources(path):
    found = _control_characters(path.read_text())
    assert not found, (
        f"{path.relative_to(ROOT)} holds control characters {found}: in a Python string '\\v', '\\f', '\\b', "
        "'\\a', '\\r' are escapes (LaTeX \\varepsilon, \\frac, \\beta lost a letter): write r'...' or '\\\\'"
    )


def test_no_control_characters_in_cells():
    paths = NOTEBOOKS + sorted((ROOT / "workbooks").glob("*.ipynb"))
    for path in paths:
        for index, cell in enumerate(_read(path).cells):
            found = _control_characters(cell.source)
            assert not found, (
                f"{path.relative_to(ROOT)}, cell {index}: control characters {found} in its source"
            )


# What is left of a LaTeX command whose backslash and first letter a Python string took as an escape
# (\v \f \n \r \t \a \b): jupytext then turns \v and \f into line breaks, so no control character is left.
LOST_BACKSLASH = re.compile(
    r"(?<![\\A-Za-z])(arepsilon|arphi|artheta|rac\{|abla(?![a-z])|heta|imes|ext\{|ilde\{|lpha|pprox|oldsymbol|ight[)\]|.])"
)


def test_no_latex_command_lost_its_backslash():
    for path in NOTEBOOKS:
        for index, cell in enumerate(_read(path).cells):
            found = LOST_BACKSLASH.search(cell.source) if cell.cell_type == "markdown" else None
            seen = cell.source[max(0, found.start() - 30) : found.end()] if found else ""
            assert not found, (
                f"{path.relative_to(ROOT)}, cell {index}: {seen!r} holds a LaTeX command without its "
                "backslash "
                "and first letter (a Python string read \\v, \\f, \\n, \\r, \\t, \\a or \\b as an escape): "
                "fix the source, e.g. \\varepsilon, \\frac"
            )


def test_sanitize_rules_are_narrow():
    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    rules = re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)  # how nbval 0.11 reads it
    assert rules, "tests/nbval_sanitize.cfg has no rules nbval can read"

    def sanitize(s: str) -> str:
        for regex, replace in rules:
            s = re.sub(regex, replace, s)
        return s

    plain = "torch.Size([64, 3, 32, 32]) 4,194,307 params, loss 0.0123 at step 1500, lr 3e-4, 0x1f, 2025"
    assert sanitize(plain) == plain, "a sanitize rule changes plain numbers: keep rules narrow (COURSE.md §5)"
    run_a = "<object object at 0x7f1c68522c90> /tmp/ipykernel_4242/123456789.py:3: UserWarning"
    run_b = "<object object at 0x7f00aa11bb22> /tmp/ipykernel_77/987.py:3: UserWarning"
    assert sanitize(run_a) == sanitize(run_b)
