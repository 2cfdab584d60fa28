"""tools/sync.py on small made-up repositories: pairs, badges and set-up cells from [tool.minidiff], the plan
table from book/plan.toml, workbooks from `exercise` cells, and the errors that name their fix."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_sync():
    """tools/sync.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("minidiff_tools_sync", ROOT / "tools" / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = load_sync()
PYPROJECT = '[tool.minidiff]\ngithub = "someone/course"\nref = "v1.2.3"\n'
CHAPTER = '''\
# %% [markdown]
# # 03 · A VAE

# %%
import torch

SCALE = 2


# %% tags=["exercise"]
def my_double(x):
    """Return 2 x: multiply by SCALE."""
    y = x * SCALE  # the body the learner writes
    return y
    # a comment that belongs to the body


class MyBox(torch.nn.Module):
    """A box (the class docstring stays)."""

    size = 3

    def __init__(self):
        """Call super().__init__() and keep nothing else."""
        super().__init__()

    @property
    def volume(self):
        """size ** 3."""
        return self.size**3


def helper(x):
    return x


# %%
print(my_double(1))
'''


def repo(tmp_path: Path, chapter: str = CHAPTER) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "jupytext.toml").write_text((ROOT / "jupytext.toml").read_text())
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "03_vae.py").write_text(chapter)
    return tmp_path


def cells(nb) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]


def test_sync_writes_pairs_badges_setup_workbook_and_tables(tmp_path):
    root = repo(tmp_path)
    (root / "book").mkdir()
    (root / "book" / "plan.toml").write_text(
        '[[chapter]]\nnumber = 3\ntitle = "A VAE"\nbuilds = "an encoder"\nclaim = "PSNR"\n\n'
        '[[chapter]]\nnumber = 4\ntitle = "CLIP"\nbuilds = "a text tower"\nclaim = "retrieval"\n'
    )
    assert sync.sync(write=True, root=root)
    assert sync.sync(write=False, root=root) == [], "a second sync must change nothing"
    nb = nbformat.read(root / "chapters" / "03_vae.ipynb", as_version=4)
    assert cells(nb) == cells(jupytext.read(root / "chapters" / "03_vae.py"))
    chapter_url = "https://colab.research.google.com/github/someone/course/blob/v1.2.3/chapters/03_vae.ipynb"
    workbook_url = (
        "https://colab.research.google.com/github/someone/course/blob/v1.2.3/workbooks/03_vae.ipynb"
    )
    assert chapter_url in nb.cells[0].source and workbook_url in nb.cells[0].source
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert 'package = "git+https://github.com/someone/course@v1.2.3"' in setup.source
    config = yaml.safe_load((root / "book" / "_config.yml").read_text())
    assert config["repository"] == {
        "url": "https://github.com/someone/course",
        "branch": "v1.2.3",
        "path_to_book": "",
    }
    assert config["sphinx"]["config"]["mathjax_path"] == "mathjax/tex-chtml.js"
    toc = yaml.safe_load((root / "book" / "_toc.yml").read_text())
    assert toc["parts"][0]["chapters"] == [{"file": "chapters/03_vae"}]
    readme = (root / "README.md").read_text()
    assert "[A VAE](chapters/03_vae.ipynb)" in readme and workbook_url in readme and "| 04 | CLIP |" in readme
    assert "| 03 | [A VAE](../chapters/03_vae.ipynb) |" in (root / "book" / "intro.md").read_text()


def test_the_workbook_stubs_the_exercise_cells_only(tmp_path):
    root = repo(tmp_path)
    sync.sync(write=True, root=root)
    workbook = nbformat.read(root / "workbooks" / "03_vae.ipynb", as_version=4)
    chapter = nbformat.read(root / "chapters" / "03_vae.ipynb", as_version=4)
    assert len(workbook.cells) == len(chapter.cells) and not any(c.get("outputs") for c in workbook.cells)
    assert "**Workbook**" in workbook.cells[0].source
    exercise = next(c for c in workbook.cells if "exercise" in c.metadata.get("tags", []))
    assert (
        exercise.source
        == '''\
def my_double(x):
    """Return 2 x: multiply by SCALE."""
    raise NotImplementedError("Return 2 x: multiply by SCALE.")


class MyBox(torch.nn.Module):
    """A box (the class docstring stays)."""

    size = 3

    def __init__(self):
        """Call super().__init__() and keep nothing else."""
        raise NotImplementedError("Call super().__init__() and keep nothing else.")

    @property
    def volume(self):
        """size ** 3."""
        raise NotImplementedError("size ** 3.")


def helper(x):
    return x'''
    )
    others = [
        (a.source, b.source) for a, b in zip(workbook.cells[1:], chapter.cells[1:]) if a is not exercise
    ]
    assert all(a == b for a, b in others), "only the badge and the exercise cells differ"
    namespace = {}
    exec(exercise.source, {"torch": __import__("torch")}, namespace)  # the stubs still compile
    with pytest.raises(NotImplementedError, match="^Return 2 x: multiply by SCALE.$"):
        namespace["my_double"](1)


def test_a_chapter_without_exercises_has_no_workbook_and_one_badge(tmp_path):
    root = repo(tmp_path)
    sync.sync(write=True, root=root)
    source = root / "chapters" / "03_vae.py"
    source.write_text(source.read_text().replace('tags=["exercise"]', ""))
    sync.sync(write=True, root=root)
    assert not (root / "workbooks" / "03_vae.ipynb").exists(), (
        "the workbook of a chapter without exercises goes"
    )
    badge = nbformat.read(root / "chapters" / "03_vae.ipynb", as_version=4).cells[0].source
    assert "workbooks/" not in badge and "workbooks/" not in (root / "README.md").read_text()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("def my_f(x):\n    return x\n", "needs a one-line docstring"),
        ("x = 1\n", "defines no top-level `def my_*`"),
        ('def my_f(x):\n    """Hint."""; return x\n', "lines of their own"),
        ("%time x = 1\n", "must be plain Python"),
    ],
)
def test_exercise_cells_that_cannot_be_stubbed_are_refused(tmp_path, body, error):
    root = repo(tmp_path, f'# %% tags=["exercise"]\n{body}')
    with pytest.raises(ValueError, match=re.escape(error)):
        sync.sync(write=False, root=root)


@pytest.mark.parametrize(
    ("pyproject", "error"),
    [
        ('[tool.minidiff]\ngithub = "someone/course"\nref = "main"\n', "not a branch"),
        ('[tool.minidiff]\ngithub = "someone/course"\nbranch = "main"\n', "takes exactly"),
        ('[tool.minidiff]\ngithub = "course"\nref = "v1.0.0"\n', "owner/repo"),
    ],
)
def test_settings_are_refused_with_their_fix(tmp_path, pyproject, error):
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with pytest.raises(ValueError, match=error):
        sync.settings(tmp_path)
    assert sync.REF.fullmatch("0123456789abcdef0123456789abcdef01234567"), "a commit is a fine pin"


def test_plan_entries_are_checked(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "plan.toml").write_text('[[chapter]]\nnumber = 1\ntitle = "x"\nbuilds = "y"\n')
    with pytest.raises(ValueError, match="number, title, builds, claim"):
        sync.plan(tmp_path)


def test_a_solution_needs_its_chapter(tmp_path):
    root = repo(tmp_path)
    (root / "solutions").mkdir()
    (root / "solutions" / "04_clip.py").write_text("# %%\nx = 1\n")
    with pytest.raises(ValueError, match="does not exist"):
        sync.sync(write=False, root=root)


def test_sync_keeps_outputs_and_refuses_to_overwrite_a_newer_notebook(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "01_flow.py").write_text("# %%\nx = 1\n")
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


def test_the_plan_file_parses_and_covers_the_written_chapters():
    rows = sync.plan(ROOT)
    assert sorted(rows) == list(range(len(rows))), (
        "book/plan.toml: chapters 00, 01, ... in order, none missing"
    )
    written = {int(p.name[:2]) for p in (ROOT / "chapters").glob("[0-9][0-9]_*.py")}
    assert written <= set(rows), f"book/plan.toml has no entry for chapters {sorted(written - set(rows))}"
