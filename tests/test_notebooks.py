"""The committed notebooks: each .py/.ipynb pair is in sync and executed, and every generated link (Colab
badge, set-up cell, book config and toc, README table) agrees with ``[tool.minidiff]`` in pyproject.toml.

With no notebooks yet, the per-notebook tests are skipped and the config checks still run. Fix most failures
with ``make sync`` (then ``make notebooks BUDGET=cpu`` for unexecuted notebooks).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DIRS = ("chapters", "solutions")
SETTINGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["minidiff"]
GITHUB, BRANCH = SETTINGS["github"], SETTINGS.get("branch", "main")
STEMS = sorted(
    {f"{d}/{p.stem}" for d in DIRS for ext in ("py", "ipynb") for p in (ROOT / d).glob(f"*.{ext}")}
    - {f"{d}/{p.stem}" for d in DIRS for p in (ROOT / d).glob("_*")}
)
NO_NOTEBOOKS = pytest.param(None, marks=pytest.mark.skip(reason="no notebooks yet in chapters/, solutions/"))
each_notebook = pytest.mark.parametrize("stem", STEMS or [NO_NOTEBOOKS])


def load_sync():
    """tools/sync.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("minidiff_tools_sync", ROOT / "tools" / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]


def colab_url(stem: str) -> str:
    return f"https://colab.research.google.com/github/{GITHUB}/blob/{BRANCH}/{stem}.ipynb"


def first_code_cell(stem: str):
    nb = nbformat.read(ROOT / f"{stem}.ipynb", as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code")


# ---------------------------------------------------------------- each notebook


@each_notebook
def test_pair_exists_and_is_named_nn_slug(stem):
    assert re.fullmatch(r"(chapters|solutions)/\d\d_[a-z0-9_]+", stem), f"{stem}: name it NN_slug: 01_flow"
    for ext in ("py", "ipynb"):
        assert (ROOT / f"{stem}.{ext}").exists(), f"{stem}.{ext} is missing: run `make sync`"
    if stem.startswith("solutions/"):
        chapter = ROOT / "chapters" / f"{Path(stem).name}.py"
        assert chapter.exists(), f"{stem} solves {chapter.relative_to(ROOT)}, which does not exist"


@each_notebook
def test_pair_in_sync(stem):
    source = cells(jupytext.read(ROOT / f"{stem}.py"))
    stored = cells(nbformat.read(ROOT / f"{stem}.ipynb", as_version=4))
    first = next((i for i, (a, b) in enumerate(zip(source, stored)) if a != b), min(len(source), len(stored)))
    assert source == stored, (
        f"{stem}.ipynb differs from {stem}.py (the source) from cell {first} on ({len(source)} vs "
        f"{len(stored)} cells): run `make sync`, then `make notebooks NB={stem}.ipynb`"
    )


@each_notebook
def test_notebook_was_executed_top_to_bottom(stem):
    nb = nbformat.read(ROOT / f"{stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    fix = f"run `make notebooks BUDGET=cpu NB={stem}.ipynb` (or BUDGET=gpu) to store a real run's outputs"
    unexecuted = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not unexecuted, f"{stem}.ipynb: code cells {unexecuted} were never executed: {fix}"
    counts = [c.execution_count for c in code]
    assert counts == sorted(set(counts)), f"{stem}.ipynb: cells ran out of order ({counts}): {fix}"
    assert any(c.outputs for c in code), f"{stem}.ipynb has no outputs at all: {fix}"
    errors = [c.source.splitlines()[0] for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"{stem}.ipynb stores an error in the cell starting {errors[0]!r}: fix it, then {fix}"


@each_notebook
def test_colab_badge_points_at_this_notebook(stem):
    for ext in ("py", "ipynb"):
        first = jupytext.read(ROOT / f"{stem}.{ext}").cells[0]
        assert first.cell_type == "markdown" and colab_url(stem) in first.source, (
            f"{stem}.{ext}: the first cell must be the Colab badge for {colab_url(stem)}: run `make sync`"
        )


@each_notebook
def test_first_code_cell_is_the_colab_setup(stem):
    cell = first_code_cell(stem)
    assert "from minidiff.colab import setup" in cell.source, f"{stem}: run `make sync` to add the set-up"
    assert f"git+https://github.com/{GITHUB}@{BRANCH}" in cell.source, (
        f"{stem}: the set-up cell installs from another repository than [tool.minidiff]: run `make sync`"
    )
    assert "nbval-ignore-output" in cell.metadata.get("tags", []), f"{stem}: run `make sync`"
    assert cell.source == first_code_cell(STEMS[0]).source, f"{stem}, {STEMS[0]}: different set-up cells"


# ---------------------------------------------------------------- the book, the README and the generator


def test_github_setting_is_owner_slash_repo():
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", GITHUB), f"[tool.minidiff] github = {GITHUB!r}: use owner/repo"


def test_book_config_agrees_with_pyproject():
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["repository"]["url"] == f"https://github.com/{GITHUB}", "run `make sync`"
    assert config["repository"]["branch"] == BRANCH, "run `make sync`"
    assert config["repository"]["path_to_book"] == "", "the book is built from the repository root"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    assert config["execute"]["execute_notebooks"] == "off", "the book shows the committed outputs"


def test_book_toc_lists_every_notebook():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    assert toc["root"] == "book/intro" and (ROOT / "book" / "intro.md").exists()
    listed = [entry["file"] for part in toc.get("parts", []) for entry in part["chapters"]]
    assert listed == STEMS, "book/_toc.yml does not list every notebook in chapters/, solutions/: `make sync`"


def test_readme_has_a_colab_badge_per_chapter():
    readme = (ROOT / "README.md").read_text()
    for stem in STEMS:
        if stem.startswith("chapters/"):
            assert colab_url(stem) in readme, f"README.md has no Colab badge for {stem}: run `make sync`"


def test_generated_files_are_up_to_date():
    stale = load_sync().sync(write=False)
    assert not stale, "out of date (run `make sync`):\n" + "\n".join(stale)


def test_sync_generates_pairs_from_a_source(tmp_path):
    sync = load_sync()
    (tmp_path / "pyproject.toml").write_text('[tool.minidiff]\ngithub = "someone/course"\nbranch = "dev"\n')
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "03_vae.py").write_text("# %% [markdown]\n# # 03 · A VAE\n\n# %%\nx = 1\nx\n")
    assert sync.sync(write=True, root=tmp_path)
    assert sync.sync(write=False, root=tmp_path) == [], "a second sync must change nothing"
    nb = nbformat.read(tmp_path / "chapters" / "03_vae.ipynb", as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code", "code"]
    assert "github/someone/course/blob/dev/chapters/03_vae.ipynb" in nb.cells[0].source
    assert "git+https://github.com/someone/course@dev" in nb.cells[2].source
    assert cells(nb) == cells(jupytext.read(tmp_path / "chapters" / "03_vae.py"))
    toc = yaml.safe_load((tmp_path / "book" / "_toc.yml").read_text())
    assert toc["parts"][0]["chapters"] == [{"file": "chapters/03_vae"}]
    assert "[A VAE](chapters/03_vae.ipynb)" in (tmp_path / "README.md").read_text()


def test_sync_keeps_outputs_and_refuses_to_overwrite_a_newer_notebook(tmp_path):
    sync = load_sync()
    (tmp_path / "pyproject.toml").write_text('[tool.minidiff]\ngithub = "someone/course"\n')
    (tmp_path / "solutions").mkdir()
    py, ipynb = tmp_path / "solutions" / "01_flow.py", tmp_path / "solutions" / "01_flow.ipynb"
    py.write_text("# %%\nprint(2)\n")
    sync.sync(write=True, root=tmp_path)
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells[-1].execution_count, nb.cells[-1].outputs = 1, [nbformat.v4.new_output("stream", text="2\n")]
    nbformat.write(nb, ipynb)
    py.write_text(py.read_text().replace("print(2)", "print(2)  # two"))
    newer = ipynb.stat().st_mtime + 10
    os.utime(py, (newer, newer))
    sync.sync(write=True, root=tmp_path)  # .py changed, same cell: its output is kept
    nb = nbformat.read(ipynb, as_version=4)
    assert nb.cells[-1].source == "print(2)  # two" and nb.cells[-1].outputs[0].text == "2\n"
    nb.cells[-1].source = "print(3)"
    nbformat.write(nb, ipynb)  # edited in the .ipynb after the .py: sync must not throw that away
    newer = py.stat().st_mtime + 10
    os.utime(ipynb, (newer, newer))
    with pytest.raises(ValueError, match="was edited after"):
        sync.sync(write=True, root=tmp_path)


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
