"""The package's floors (COURSE.md §4): a module imports only from its floor or lower, never in a circle.

Every import is read with ``ast`` (module level and inside functions alike), so a lazy import cannot hide an
upward arrow or a loop. A new module must be given a floor here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minidiff"

FLOORS = {  # the first part of each module's dotted name below minidiff -> its floor
    "settings": 1, "flow": 1, "layers": 1, "guidance": 1,  # paths and budgets, the maths
    "unet": 2, "vae": 2, "text": 2, "clip": 2, "dit": 2,  # models (a tokenizer is the text model's front end)
    "tread": 2, "repa": 2,  # two ways of training a DiT
    "data": 2, "metrics": 2, "checkpoint": 2,  # data, metrics, checkpoints
    "train": 3, "zoo": 3, "judges": 3, "recipes": 3, "pipeline": 3,  # what trains, caches, judges, assembles
    "plot": 4, "live": 4, "paint": 4, "checks": 4, "colab": 4, "cli": 4,  # what a notebook or a shell touches
    "__init__": 5, "__main__": 5,  # the package's face re-exports; `python -m minidiff` runs the cli
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts) if parts != ["__init__"] else "__init__"


def resolve(name: str) -> str | None:
    """``minidiff.data.emoji`` -> ``data.emoji``; ``minidiff`` itself (its attributes) -> ``__init__``."""
    if name == "minidiff":
        return "__init__"
    if name.startswith("minidiff."):
        return name[len("minidiff.") :]
    return None


def imports(path: Path) -> set[str]:
    """Every minidiff module that ``path`` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {resolve(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            target = resolve(node.module)
            if (
                target == "__init__"
            ):  # `from minidiff import zoo` imports a module, `... import pick` the face
                for alias in node.names:
                    is_module = (PACKAGE / f"{alias.name}.py").exists() or (PACKAGE / alias.name).is_dir()
                    found.add(alias.name if is_module else "__init__")
            else:
                found.add(target)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(
                f"{path}: use absolute imports (from minidiff.x import y), not relative ones"
            )
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            raise AssertionError(f"{path}: no importlib tricks; import what you need by name")
    return {name for name in found if name}


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def floor(module: str) -> int:
    top = module.split(".")[0]
    if top not in FLOORS:
        raise AssertionError(f"minidiff/{module}: give it a floor in FLOORS ({__file__}) and in COURSE.md")
    return FLOORS[top]


def test_every_import_goes_down_or_stays_on_its_floor():
    upward = [
        f"{module} (floor {floor(module)}) imports {target} (floor {floor(target)})"
        for module, targets in graph().items()
        for target in sorted(targets)
        if floor(target) > floor(module)
    ]
    assert not upward, "imports that run up:\n" + "\n".join(upward)


def find_circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circles():
    edges = graph()
    # a package import (`from minidiff import data`) runs its __init__: point it there
    edges = {m: {t if t in edges else f"{t}.__init__" for t in targets} for m, targets in edges.items()}
    circle = find_circle(edges)
    assert circle is None, "import circle: " + " -> ".join(circle)


@pytest.mark.parametrize(
    "edges, circle",
    [
        ({"a": {"b"}, "b": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ],
)
def test_the_circle_finder_finds_circles(edges, circle):
    assert (find_circle(edges) is not None) == circle


def test_the_reader_sees_lazy_imports(tmp_path, monkeypatch):
    fake = tmp_path / "minidiff"
    fake.mkdir()
    (fake / "metrics.py").write_text("def f():\n    from minidiff.judges import emoji\n")
    (fake / "judges").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert imports(fake / "metrics.py") == {"judges"}
