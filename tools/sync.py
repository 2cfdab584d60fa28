"""Regenerate everything derived from pyproject's ``[tool.minidiff]`` and the list of notebooks.

``python tools/sync.py`` (``make sync``) updates, in place and only where something changed:
each ``chapters/*.py`` / ``solutions/*.py`` source (the "Open in Colab" badge cell and the Colab set-up
cell), the paired ``.ipynb`` (inputs from the ``.py``, stored outputs kept), ``book/_config.yml``,
``book/_toc.yml`` and the chapter tables in ``book/intro.md`` and ``README.md``.
``--check`` changes nothing and exits 1 listing what is out of date; ``--book`` skips the notebooks.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

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
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+$")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
BADGE_MARK = "colab.research.google.com/assets/colab-badge.svg"
SETUP_MARK = "from minidiff.colab import setup"
SETUP_TAGS = ["nbval-ignore-output"]
BADGE_TAGS = ["remove-cell"]  # the book has its own launch button
TABLE_START, TABLE_END = "<!-- chapters:start -->", "<!-- chapters:end -->"

# The course plan (COURSE.md §3): number -> (title, what the learner builds, measured claim (gpu budget)).
PLAN = {
    0: ("Setup and tour", "device/budget, datasets, image grids", "—"),
    1: (
        "Flow matching",
        "linear path, velocity target, Euler/Heun sampling, 2-D toy → tiny images; DDPM contrasted",
        "samples match the 2-D data (distance printed), steps-vs-quality curve",
    ),
    2: (
        "A UNet",
        "ResBlocks, timestep embedding, down/up path, skips, self-attention",
        "unconditional emoji/shapes samples; judge score vs steps",
    ),
    3: (
        "A VAE",
        "encoder/decoder, reparameterisation, KL, free bits, perceptual loss, latent scale factor",
        "reconstruction PSNR/LPIPS; latent std ≈ 1 after scaling",
    ),
    4: (
        "CLIP",
        "tokenizer, text transformer, ViT image encoder, contrastive loss, learned temperature",
        "zero-shot retrieval accuracy on held-out captions",
    ),
    5: (
        "Conditioning and CFG",
        "cross-attention, condition dropout, guidance scale and interval",
        "prompt accuracy vs guidance scale",
    ),
    6: (
        "Latent text-to-image",
        "VAE + CLIP + UNet assembled into a pipeline, `generate(prompt)`, a CLI",
        "text → emoji that a judge recognises",
    ),
    7: (
        "DiT",
        "patchify, position embeddings, adaLN-Zero blocks; DiT vs UNet at equal compute",
        "equal-compute comparison table",
    ),
    8: (
        "x-prediction (JiT)",
        "x/ε/v prediction, loss in v space, logit-normal t; toy high-D manifold; large patches",
        "ε/v fail and x works as D or patch size grows",
    ),
    9: (
        "Drawing to image",
        "one-hot semantic maps, spatial conditioning, a paint widget",
        "generated images respect the drawn map (judge)",
    ),
    10: (
        "TREAD",
        "token routing past middle blocks; self-guidance",
        "throughput gain at equal or better quality",
    ),
    11: (
        "REPA",
        "projector + cosine alignment of hidden states to a frozen encoder",
        "steps to reach a quality target, with vs without",
    ),
    12: (
        "Training recipes",
        "Muon, EMA, AMP, gradient checkpointing, resolution schedule, aspect buckets, shards, resume, DDP",
        "Muon vs AdamW curve; resume is exact",
    ),
    13: (
        "Evaluating generators",
        "Fréchet distance in judge features, CLIP score, LPIPS, the validation suite",
        "metric table over the course's models",
    ),
    14: (
        "Few steps, small models",
        "distillation to 1–4 steps, int8 quantization, latency profiling",
        "quality at 2–4 steps vs 20; size and latency",
    ),
    15: (
        "In the browser",
        "ONNX export, parity with onnxruntime, the web app (paint → image) on onnxruntime-web",
        "generation latency in a real browser",
    ),
}


# ---------------------------------------------------------------- settings and generated text


def settings(root: Path = ROOT) -> tuple[str, str]:
    """``(github, branch)`` from pyproject's ``[tool.minidiff]``, e.g. ``("owner/repo", "main")``."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["minidiff"]
    github, branch = config["github"], config.get("branch", "main")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", github):
        raise ValueError(f"[tool.minidiff] github = {github!r} in pyproject.toml: write it as 'owner/repo'")
    return github, branch


def colab_url(github: str, branch: str, relpath: str) -> str:
    return f"https://colab.research.google.com/github/{github}/blob/{branch}/{relpath}"


def badge(github: str, branch: str, relpath: str) -> str:
    return f"[![Open In Colab](https://{BADGE_MARK})]({colab_url(github, branch, relpath)})"


def setup_source(github: str, branch: str) -> str:
    """The first code cell of every notebook: a no-op outside Colab."""
    return f"""\
# Set-up: on Colab this installs minidiff and the emoji font and picks the GPU budget; elsewhere a no-op.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("minidiff") is None:
    package = "git+https://github.com/{github}@{branch}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)

from minidiff.colab import setup

setup()"""


def book_config(github: str, branch: str) -> str:
    return f"""\
# Generated by tools/sync.py from pyproject.toml ([tool.minidiff]): edit the template there, then `make sync`.
# The book is built from the repository root (`make book`) so that launch buttons point at chapters/*.ipynb.
title: minidiff
author: the minidiff authors
only_build_toc_files: true
exclude_patterns: [".venv", "**/node_modules", "**/.ipynb_checkpoints", "_build", "book/_build"]

execute:
  execute_notebooks: "off"  # the committed notebooks carry the outputs of a real run

parse:
  myst_enable_extensions: [amsmath, dollarmath, colon_fence, deflist]

repository:
  url: https://github.com/{github}
  branch: {branch}
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


def chapter_table(stems: list[str], github: str, branch: str, *, readme: bool, root: Path = ROOT) -> str:
    """The course plan as a Markdown table; chapters that exist are linked (README: + a Colab badge)."""
    chapters = {_number(s): s for s in stems if s.startswith("chapters/")}
    solutions = {_number(s): s for s in stems if s.startswith("solutions/")}
    rows = dict(PLAN)
    for number, stem in chapters.items():
        rows.setdefault(number, (_first_heading(stem, root) or Path(stem).name, "", ""))
    prefix = "" if readme else "../"
    header = "| # | chapter | the learner builds | measured claim (gpu budget) |"
    lines = [header + (" open |" if readme else " solutions |"), "|---|---|---|---|---|"]
    for number, (title, builds, claim) in sorted(rows.items()):
        stem = chapters.get(number)
        name = f"[{title}]({prefix}{stem}.ipynb)" if stem else title
        extra = []
        if readme and stem:
            extra.append(badge(github, branch, f"{stem}.ipynb"))
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


def with_header_cells(nb, github: str, branch: str, relpath: str):
    """A copy of ``nb`` whose first cell is the Colab badge and whose first code cell is the set-up cell."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if not (c.cell_type == "markdown" and BADGE_MARK in c.source)]
    old_setup = [c for c in cells if c.cell_type == "code" and SETUP_MARK in c.source]
    cells = [c for c in cells if not (c.cell_type == "code" and SETUP_MARK in c.source)]
    setup = nbformat.v4.new_code_cell(setup_source(github, branch), metadata={"tags": list(SETUP_TAGS)})
    if old_setup:  # keep its outputs and any extra metadata (e.g. jupytext's lines_to_next_cell)
        setup = copy.deepcopy(old_setup[0])
        setup.source, setup.metadata["tags"] = setup_source(github, branch), list(SETUP_TAGS)
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, setup)
    top = nbformat.v4.new_markdown_cell(badge(github, branch, relpath), metadata={"tags": list(BADGE_TAGS)})
    cells.insert(0, top)
    nb.cells = cells
    nb.metadata.setdefault("kernelspec", dict(KERNELSPEC))
    for key in ("notebook_metadata_filter", "cell_metadata_filter"):  # jupytext infers "-all" for a .py
        nb.metadata.get("jupytext", {}).pop(key, None)  # without a header; jupytext.toml decides instead
    return nb


def sync_notebook(stem: str, github: str, branch: str, *, write: bool, root: Path = ROOT) -> list[str]:
    """Bring one pair up to date; return a line per file that changed (or would change)."""
    py, ipynb = root / f"{stem}.py", root / f"{stem}.ipynb"
    config = load_jupytext_config(str(py.parent))
    changes = []
    if not NAME.match(py.stem):
        raise ValueError(f"{stem}: name notebooks NN_slug (two digits, a lower-case slug), e.g. 01_flow.py")
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
    wanted = with_header_cells(source_nb, github, branch, f"{stem}.ipynb")
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
    return changes


# ---------------------------------------------------------------- main


def sync(*, write: bool, notebooks: bool = True, root: Path = ROOT) -> list[str]:
    """Update (or, with ``write=False``, list) every generated file; return one line per change."""
    github, branch = settings(root)
    changes = []
    if notebooks:
        for stem in stems(root):
            changes += sync_notebook(stem, github, branch, write=write, root=root)
    names = stems(root)
    generated = {
        root / "book/_config.yml": book_config(github, branch),
        root / "book/_toc.yml": book_toc(names),
    }
    for path, readme in ((root / "book/intro.md", False), (root / "README.md", True)):
        text = path.read_text() if path.exists() else f"{TABLE_START}\n{TABLE_END}\n"
        table = chapter_table(names, github, branch, readme=readme, root=root)
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
