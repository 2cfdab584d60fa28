"""Regenerate everything derived from ``[tool.minidiff]``, the course plan and the chapter sources.

``python tools/sync.py`` (``make sync``) updates, in place and only where something changed:
each ``chapters/*.py`` / ``solutions/*.py`` source (the "Open in Colab" badge cell and the Colab set-up
cell), the paired ``.ipynb`` (inputs from the ``.py``, stored outputs kept), ``workbooks/NN_slug.ipynb``
(the chapter with each ``exercise`` cell's ``my_*`` / ``My*`` bodies stubbed), ``book/_config.yml``,
``book/_toc.yml`` and the chapter tables in ``book/intro.md`` and ``README.md`` (from ``book/plan.toml``).
``--check`` changes nothing and exits 1 listing what is out of date; ``--book`` skips the notebooks.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from jupytext.config import load_jupytext_config

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli comes with pytest
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DIRS = ("chapters", "solutions")
WORKBOOKS = "workbooks"
PLAN = "book/plan.toml"
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+$")
# A release tag ("v" + minidiff.settings.VERSION) or a commit: never a branch, whose head moves.
REF = re.compile(r"v\d+(\.\d+)*([-+.]?[0-9A-Za-z]+)*|[0-9a-f]{40}")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_MARK = "colab.research.google.com/assets/colab-badge.svg"
SETUP_MARK = "from minidiff.colab import setup"
SETUP_TAGS = ["nbval-ignore-output"]
BADGE_TAGS = ["remove-cell"]  # the book has its own launch button
EXERCISE_TAG = "exercise"
TABLE_START, TABLE_END = "<!-- chapters:start -->", "<!-- chapters:end -->"


# ---------------------------------------------------------------- settings and the plan


class Settings(NamedTuple):
    """``[tool.minidiff]``: the repository (``owner/repo``) and the tag (or commit) badges and set-up use."""

    github: str
    ref: str


def settings(root: Path = ROOT) -> Settings:
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"].get("minidiff", {})
    unknown = set(config) - {"github", "ref"}
    if unknown or not {"github", "ref"} <= set(config):
        raise ValueError(
            'pyproject.toml: [tool.minidiff] takes exactly `github = "owner/repo"` and `ref = "v<version>"`'
            f" (found {sorted(config)})"
        )
    github, ref = config["github"], config["ref"]
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", github):
        raise ValueError(f"[tool.minidiff] github = {github!r} in pyproject.toml: write it as 'owner/repo'")
    if not REF.fullmatch(ref):
        raise ValueError(
            f"[tool.minidiff] ref = {ref!r} in pyproject.toml: use the release tag 'v<version>' (or a 40-hex "
            "commit), not a branch: a branch moves, and a chapter would install another day's package"
        )
    return Settings(github, ref)


def plan(root: Path = ROOT) -> dict[int, tuple[str, str, str]]:
    """``book/plan.toml``: chapter number -> (title, what the learner builds, measured claim)."""
    path = root / PLAN
    if not path.exists():
        return {}
    rows = {}
    for entry in tomllib.loads(path.read_text()).get("chapter", []):
        if set(entry) != {"number", "title", "builds", "claim"}:
            raise ValueError(
                f"{PLAN}: each [[chapter]] has number, title, builds, claim; got {sorted(entry)}"
            )
        if entry["number"] in rows:
            raise ValueError(f"{PLAN}: chapter {entry['number']} is listed twice")
        rows[entry["number"]] = (entry["title"], entry["builds"], entry["claim"])
    return rows


# ---------------------------------------------------------------- generated text


def colab_url(cfg: Settings, relpath: str) -> str:
    return f"https://colab.research.google.com/github/{cfg.github}/blob/{cfg.ref}/{relpath}"


def badge(cfg: Settings, relpath: str, alt: str = "Open In Colab") -> str:
    return f"[![{alt}]({BADGE_IMAGE})]({colab_url(cfg, relpath)})"


def workbook_path(stem: str) -> str:
    return f"{WORKBOOKS}/{Path(stem).name}.ipynb"


def badge_source(cfg: Settings, stem: str, has_workbook: bool) -> str:
    """The first cell: Colab badges for this notebook and, for a chapter with exercises, its workbook."""
    text = badge(cfg, f"{stem}.ipynb")
    if has_workbook:
        workbook = badge(cfg, workbook_path(stem), "Open the workbook in Colab")
        # its own line (the same paragraph in Markdown), each line ending with its badge's URL: ruff's
        # line-length rule passes such lines, so the .py keeps to the line length
        text += f"\nand its workbook, to write the `my_*` code yourself with checks: {workbook}"
    return text


def workbook_badge_source(cfg: Settings, stem: str) -> str:
    chapter = f"[{stem}.ipynb]({colab_url(cfg, f'{stem}.ipynb')})"
    return (
        f"{badge(cfg, workbook_path(stem))} **Workbook** of {chapter}: "
        "each `my_*` function or `My*` class below is a stub for you to write (its docstring says what), and "
        "the check after it tells you when it is right. Cells that use your code fail until then."
    )


def setup_source(cfg: Settings) -> str:
    """The first code cell of every notebook: a no-op outside Colab."""
    return f"""\
# Set-up: on Colab this installs minidiff and the emoji font and picks the GPU budget; elsewhere a no-op.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("minidiff") is None:
    package = "git+https://github.com/{cfg.github}@{cfg.ref}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

from minidiff.colab import setup

setup()"""


def book_config(cfg: Settings) -> str:
    return f"""\
# Generated by tools/sync.py from pyproject.toml ([tool.minidiff]): edit the template there, then `make sync`.
# The book is built from the repository root (`make book`) so that launch buttons point at chapters/*.ipynb.
title: minidiff
author: the minidiff authors
only_build_toc_files: true
exclude_patterns: [".venv", "**/node_modules", "**/.ipynb_checkpoints", "_build", "book/_build", "workbooks"]

execute:
  execute_notebooks: "off"  # the committed notebooks carry the outputs of a real run

parse:
  myst_enable_extensions: [amsmath, dollarmath, colon_fence, deflist]

repository:
  url: https://github.com/{cfg.github}
  branch: {cfg.ref}  # launch buttons open this tag, the one each notebook's set-up cell installs
  path_to_book: ""

launch_buttons:
  colab_url: https://colab.research.google.com
  notebook_interface: jupyterlab

html:
  use_repository_button: true
  use_issues_button: true
  use_edit_page_button: false  # pages come from .ipynb generated from the .py sources

sphinx:
  config:
    nb_merge_streams: true
    html_show_copyright: false
    # MathJax 3 from book/package.json (`make book` installs it), so the maths renders offline
    html_static_path: ["book/_static"]
    mathjax_path: mathjax/tex-chtml.js
    nb_ipywidgets_js: {{}}  # widget outputs show their stored text/image, no scripts from a CDN
"""


def book_toc(stems: list[str]) -> str:
    lines = [
        "# Generated by tools/sync.py (`make sync`) from the notebooks in chapters/ and solutions/.",
        "format: jb-book",
        "root: book/intro",
    ]
    parts = [("Chapters", [s for s in stems if s.startswith("chapters/")])]
    parts += [("Solutions", [s for s in stems if s.startswith("solutions/")])]
    parts = [(caption, files) for caption, files in parts if files]
    if parts:
        lines.append("parts:")
    for caption, files in parts:
        lines += [f"  - caption: {caption}", "    chapters:"] + [f"      - file: {s}" for s in files]
    return "\n".join(lines) + "\n"


def _number(stem: str) -> int:
    return int(Path(stem).name[:2])


def _first_heading(stem: str, root: Path) -> str | None:
    for line in (root / f"{stem}.py").read_text().splitlines() if (root / f"{stem}.py").exists() else []:
        if match := re.match(r"#\s+#+\s+(.+)", line):
            return match.group(1).strip()
    return None


def chapter_table(
    stems: list[str], workbooks: set[str], cfg: Settings, *, readme: bool, root: Path = ROOT
) -> str:
    """The course plan as a Markdown table; chapters that exist are linked (README: + Colab badges)."""
    chapters = {_number(s): s for s in stems if s.startswith("chapters/")}
    solutions = {_number(s): s for s in stems if s.startswith("solutions/")}
    rows = plan(root)
    for number, stem in chapters.items():
        rows.setdefault(number, (_first_heading(stem, root) or Path(stem).name, "", ""))
    prefix = "" if readme else "../"
    header = "| # | chapter | the learner builds | measured claim (gpu budget) |"
    lines = [header + (" open |" if readme else " workbook · solutions |"), "|---|---|---|---|---|"]
    for number, (title, builds, claim) in sorted(rows.items()):
        stem = chapters.get(number)
        name = f"[{title}]({prefix}{stem}.ipynb)" if stem else title
        extra = []
        if readme and stem:
            extra.append(badge(cfg, f"{stem}.ipynb"))
        if stem in workbooks:
            url = colab_url(cfg, workbook_path(stem))
            extra.append(f"workbook {badge(cfg, workbook_path(stem), 'Open the workbook in Colab')}" if readme
                         else f"[workbook on Colab]({url})")  # fmt: skip
        if number in solutions:
            extra.append(f"[solutions]({prefix}{solutions[number]}.ipynb)")
        lines.append(f"| {number:02d} | {name} | {builds} | {claim} | {' · '.join(extra)} |")
    return "\n".join(lines)


def with_table(text: str, table: str, path: Path) -> str:
    if TABLE_START not in text or TABLE_END not in text:
        raise ValueError(f"{path}: add the lines {TABLE_START} and {TABLE_END} where the chapter table goes")
    head, rest = text.split(TABLE_START, 1)
    return f"{head}{TABLE_START}\n{table}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}"


# ---------------------------------------------------------------- notebooks


def stems(root: Path = ROOT) -> list[str]:
    """``chapters/NN_slug`` for every .py or .ipynb in chapters/ and solutions/, sorted."""
    found = {f"{d}/{p.stem}" for d in DIRS for ext in ("py", "ipynb") for p in (root / d).glob(f"*.{ext}")}
    return sorted(s for s in found if not Path(s).name.startswith("_"))


def inputs(nb) -> list[tuple[str, str, list[str]]]:
    """What must agree between a pair: each cell's type, source and tags (metadata and outputs aside)."""
    return [(c.cell_type, c.source.strip(), list(c.metadata.get("tags", []))) for c in nb.cells]


def exercise_cells(nb) -> list[int]:
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and EXERCISE_TAG in c.metadata.get("tags", [])
    ]


def with_header_cells(nb, cfg: Settings, stem: str):
    """A copy of ``nb`` whose first cell is the Colab badge and whose first code cell is the set-up cell."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if not (c.cell_type == "markdown" and BADGE_MARK in c.source)]
    old_setup = [c for c in cells if c.cell_type == "code" and SETUP_MARK in c.source]
    cells = [c for c in cells if not (c.cell_type == "code" and SETUP_MARK in c.source)]
    setup = nbformat.v4.new_code_cell(setup_source(cfg), metadata={"tags": list(SETUP_TAGS)})
    if old_setup:  # keep its outputs and any extra metadata (e.g. jupytext's lines_to_next_cell)
        setup = copy.deepcopy(old_setup[0])
        setup.source, setup.metadata["tags"] = setup_source(cfg), list(SETUP_TAGS)
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, setup)
    has_workbook = stem.startswith("chapters/") and bool(exercise_cells(nb))
    top = nbformat.v4.new_markdown_cell(
        badge_source(cfg, stem, has_workbook), metadata={"tags": list(BADGE_TAGS)}
    )
    cells.insert(0, top)
    nb.cells = cells
    nb.metadata.setdefault("kernelspec", dict(KERNELSPEC))
    for key in ("notebook_metadata_filter", "cell_metadata_filter"):  # jupytext infers "-all" for a .py
        nb.metadata.get("jupytext", {}).pop(key, None)  # without a header; jupytext.toml decides instead
    return nb


def sync_notebook(stem: str, cfg: Settings, *, write: bool, root: Path = ROOT) -> tuple[list[str], object]:
    """Bring one pair up to date; return a line per file that changed (or would change), and the source
    notebook as it is (or would be) after the sync."""
    py, ipynb = root / f"{stem}.py", root / f"{stem}.ipynb"
    config = load_jupytext_config(str(py.parent))
    changes = []
    if not NAME.match(py.stem):
        raise ValueError(f"{stem}: name notebooks NN_slug (two digits, a lower-case slug), e.g. 01_flow.py")
    if stem.startswith("solutions/") and not (root / "chapters" / f"{py.stem}.py").exists():
        raise ValueError(
            f"{stem} solves chapters/{py.stem}.py, which does not exist: give it its chapter's name"
        )
    if not py.exists():  # a notebook written in Jupyter without the pairing: its inputs become the source
        source_nb = jupytext.read(ipynb)
        changes.append(f"{py.relative_to(root)}: created from the .ipynb")
    else:
        source_nb = jupytext.read(py)
        stored = nbformat.read(ipynb, as_version=4) if ipynb.exists() else None
        edited = stored is not None and inputs(stored) != inputs(source_nb)
        if edited and ipynb.stat().st_mtime > py.stat().st_mtime:
            raise ValueError(
                f"{stem}.ipynb was edited after {stem}.py (the source): copy the edits into the .py and "
                f"`touch {stem}.py`, or take the notebook's cells with "
                f"`jupytext --to py:percent {stem}.ipynb`; then run `make sync` again"
            )
    wanted = with_header_cells(source_nb, cfg, stem)
    if not py.exists() or inputs(wanted) != inputs(source_nb) or "kernelspec" not in source_nb.metadata:
        changes.append(f"{py.relative_to(root)}: badge / set-up cell / kernelspec")
        if write:
            py.write_text(jupytext.writes(wanted, fmt="py:percent", config=config))
            wanted = jupytext.read(py)
    stored = nbformat.read(ipynb, as_version=4) if ipynb.exists() else None
    if stored is None or inputs(stored) != inputs(wanted):
        changes.append(f"{ipynb.relative_to(root)}: {'created' if stored is None else 'cells from the .py'}")
        if write:
            nb = wanted if stored is None else combine_inputs_with_outputs(wanted, stored, fmt="py:percent")
            nb.metadata.setdefault("kernelspec", dict(KERNELSPEC))
            jupytext.write(nb, ipynb, fmt="ipynb")
    return changes, wanted


# ---------------------------------------------------------------- workbooks


def _body_end(lines: list[str], node: ast.AST, indent: int) -> int:
    """The last line (1-based) of ``node``'s body, with the comment lines that trail it inside its block."""
    end = node.end_lineno
    while end < len(lines) and (
        not lines[end].strip()
        or (lines[end].lstrip().startswith("#") and len(lines[end]) - len(lines[end].lstrip()) >= indent)
    ):
        end += 1
    while end > node.end_lineno and not lines[end - 1].strip():  # give back the blank lines
        end -= 1
    return end


def stub_source(source: str, where: str) -> tuple[str, list[str]]:
    """Stub every top-level ``def my_*`` and every method of a top-level ``class My*`` in a cell: keep the
    signature and docstring, the body becomes ``raise NotImplementedError("<docstring's first line>")``.
    Returns the new source and the stubbed names."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise ValueError(f"{where}: an `{EXERCISE_TAG}` cell must be plain Python ({error})") from None
    targets = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("my_"):
            targets.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("My"):
            methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            targets += [(f"{node.name}.{n.name}", n) for n in methods]
    if not targets:
        raise ValueError(
            f"{where} is tagged `{EXERCISE_TAG}` but defines no top-level `def my_*` or `class My*`"
        )
    lines = source.split("\n")
    for name, node in sorted(targets, key=lambda item: -item[1].lineno):  # bottom up: line numbers hold
        docstring = ast.get_docstring(node)
        if not docstring:
            raise ValueError(
                f"{where}: `{name}` needs a one-line docstring, the hint its workbook stub shows, e.g. "
                '"""xt = t x + (1 - t) noise, with t (B,) reshaped to broadcast over x."""'
            )
        first, rest = node.body[0], node.body[1:]
        if first.lineno == node.lineno or (rest and rest[0].lineno == first.end_lineno):
            raise ValueError(f"{where}: put `{name}`'s docstring and body on lines of their own")
        if not rest:
            continue  # already a stub
        hint = docstring.strip().splitlines()[0].strip()
        indent = first.col_offset
        stub = " " * indent + f"raise NotImplementedError({json.dumps(hint, ensure_ascii=False)})"
        lines[first.end_lineno : _body_end(lines, node, indent)] = [stub]
    return "\n".join(lines), [name for name, _ in targets]


def _cell_id(stem: str, index: int) -> str:
    return hashlib.sha1(f"{stem}:{index}".encode()).hexdigest()[:8]


def workbook(chapter, cfg: Settings, stem: str):
    """The workbook of a chapter (its source notebook after the sync): no outputs, exercise bodies stubbed."""
    cells = []
    for index, cell in enumerate(chapter.cells):
        tags = list(cell.metadata.get("tags", []))
        source = cell.source
        if index == 0 and cell.cell_type == "markdown" and BADGE_MARK in source:
            source = workbook_badge_source(cfg, stem)
        elif cell.cell_type == "code" and EXERCISE_TAG in tags:
            source, _ = stub_source(source, f"{stem}.py, cell {index}")
        new = nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell
        made = new(source, metadata={"tags": tags} if tags else {})
        made.id = _cell_id(stem, index)
        cells.append(made)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


def sync_workbooks(
    chapters: dict[str, object], cfg: Settings, *, write: bool, root: Path = ROOT
) -> list[str]:
    """``workbooks/NN_slug.ipynb`` for each chapter with ``exercise`` cells; remove the others."""
    changes, wanted = [], {}
    for stem, nb in chapters.items():
        if stem.startswith("chapters/") and exercise_cells(nb):
            wanted[root / workbook_path(stem)] = nbformat.writes(workbook(nb, cfg, stem)) + "\n"
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            changes.append(f"{path.relative_to(root)}: {'regenerated' if path.exists() else 'created'}")
            if write:
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
    for path in sorted((root / WORKBOOKS).glob("*.ipynb")):
        if path not in wanted:
            changes.append(f"{path.relative_to(root)}: removed (its chapter has no `{EXERCISE_TAG}` cells)")
            if write:
                path.unlink()
    return changes


# ---------------------------------------------------------------- main


def sync(*, write: bool, notebooks: bool = True, root: Path = ROOT) -> list[str]:
    """Update (or, with ``write=False``, list) every generated file; return one line per change."""
    cfg = settings(root)
    changes, sources = [], {}
    names = stems(root)
    for stem in names if notebooks else []:
        changed, sources[stem] = sync_notebook(stem, cfg, write=write, root=root)
        changes += changed
    if notebooks:
        changes += sync_workbooks(sources, cfg, write=write, root=root)
        workbooks = {
            stem for stem, nb in sources.items() if stem.startswith("chapters/") and exercise_cells(nb)
        }
    else:
        workbooks = {f"chapters/{p.stem}" for p in (root / WORKBOOKS).glob("*.ipynb")}
    generated = {root / "book/_config.yml": book_config(cfg), root / "book/_toc.yml": book_toc(names)}
    for path, readme in ((root / "book/intro.md", False), (root / "README.md", True)):
        text = path.read_text() if path.exists() else f"{TABLE_START}\n{TABLE_END}\n"
        table = chapter_table(names, workbooks, cfg, readme=readme, root=root)
        generated[path] = with_table(text, table, path)
    for path, text in generated.items():
        if not path.exists() or path.read_text() != text:
            changes.append(f"{path.relative_to(root)}: regenerated")
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if something is stale")
    parser.add_argument("--book", action="store_true", help="only the book files and the README table")
    args = parser.parse_args(argv)
    try:
        changes = sync(write=not args.check, notebooks=not args.book)
    except ValueError as error:
        print(f"sync: {error}", file=sys.stderr)
        return 2
    for line in changes:
        print(("out of date: " if args.check else "updated: ") + line)
    if args.check and changes:
        print("run `make sync` (python tools/sync.py) to update them", file=sys.stderr)
        return 1
    if not changes:
        print("sync: everything up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
