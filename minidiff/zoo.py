"""The model zoo: models that later chapters need, trained once by a reference recipe and cached per budget.

``zoo.load("emoji-judge")`` returns the cached model for the current budget, or trains it (the recipe shows
its own progress bar) and caches it under ``home() / "zoo"`` as ``<name>-<budget>.safetensors`` plus
``<name>-<budget>.json`` (config and provenance). Loading checks both files and says exactly what is wrong;
nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from minidiff import __version__
from minidiff.budget import BUDGETS
from minidiff.budget import budget as current_budget
from minidiff.budget import device as default_device
from minidiff.checkpoint import atomic_path, storable

COLAB_DRIVE = Path("/content/drive/MyDrive")
FIELDS = ("name", "budget", "version", "data_version", "steps", "metrics", "config", "created", "sha256")

# name -> "module:ATTR" of a Recipe, imported only when that model is asked for, so `import minidiff` stays
# light. Recipes live beside the model they train, e.g. "emoji-judge": "minidiff.judges.emoji:RECIPE".
RECIPES: dict[str, str] = {
    "scenes-judge": "minidiff.judges.scenes:RECIPE",
    "emoji-judge": "minidiff.judges.emoji:RECIPE",
}
_REGISTERED: dict[str, Recipe] = {}  # recipes added at run time with register() (tests, learners)


class ZooError(ValueError):
    """A zoo model is unknown, or its cached files are corrupt, truncated, foreign or mismatched."""


@dataclass
class Recipe:
    """How to build and train one zoo model.

    ``build(config)`` makes the untrained model from its JSON-able config; ``train(budget)`` trains one
    and returns ``(model, config, steps, metrics)``; ``model`` holds the weights to keep (e.g. the EMA copy).
    """

    build: Callable[[dict], nn.Module]
    train: Callable[[str], tuple[nn.Module, dict, int, dict]]
    data_version: str
    description: str = ""
    budget: str | None = None  # a ruler (a judge) is trained one way for every budget: name that budget here


# ---- helpers -------------------------------------------------------------------------------------


def home() -> Path:
    """The package cache: ``$MINIDIFF_HOME``, else a mounted Colab Drive's ``MyDrive/minidiff``, else
    ``~/.cache/minidiff``."""
    if os.environ.get("MINIDIFF_HOME"):
        return Path(os.environ["MINIDIFF_HOME"]).expanduser()
    if COLAB_DRIVE.is_dir():  # Drive survives Colab's runtime resets; the VM's own disk does not
        return COLAB_DRIVE / "minidiff"
    return Path.home() / ".cache" / "minidiff"


def names() -> list[str]:
    """Every model the zoo knows how to train."""
    return sorted({*RECIPES, *_REGISTERED})


def register(name: str, recipe: Recipe) -> None:
    """Add (or replace) a recipe under ``name`` for this session, e.g. for a learner's own model."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ZooError(f"zoo name {name!r}: use letters, digits, '-', '_' and '.' (it becomes a file name)")
    if not isinstance(recipe, Recipe):
        raise ZooError(f"register({name!r}, ...) needs a zoo.Recipe, got {type(recipe).__name__}")
    _REGISTERED[name] = recipe


def recipe(name: str) -> Recipe:
    """The recipe for ``name``: registered ones first, then RECIPES (imported on first use)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in RECIPES:
        raise ZooError(f"unknown zoo model {name!r}: the zoo knows {', '.join(names()) or 'no models yet'}")
    module, attr = RECIPES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def paths(name: str, budget: str) -> tuple[Path, Path]:
    """(weights, provenance) file paths of a zoo model."""
    folder = home() / "zoo"
    return folder / f"{name}-{budget}.safetensors", folder / f"{name}-{budget}.json"


def _budget(budget: str | None, rec: Recipe | None = None) -> str:
    budget = (rec.budget if rec is not None else None) or budget or current_budget()
    if budget not in BUDGETS:
        raise ZooError(f"budget={budget!r}: use one of {', '.join(BUDGETS)}")
    return budget


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _major_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


# ---- save, check, load ---------------------------------------------------------------------------


def _train_and_save(name: str, budget: str, rec: Recipe) -> None:
    weights, meta = paths(name, budget)
    model, config, steps, metrics = rec.train(budget)
    meta.unlink(missing_ok=True)  # no JSON = no entry: a crash before the new JSON lands means "not cached"
    with atomic_path(weights) as tmp:
        save_file(storable(model.state_dict()), str(tmp))
        sha256 = _sha256(tmp)
    provenance = {
        "name": name,
        "budget": budget,
        "version": __version__,
        "data_version": rec.data_version,
        "steps": int(steps),
        "metrics": metrics,
        "config": config,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sha256": sha256,
        "description": rec.description,
        "torch": torch.__version__,
    }
    with atomic_path(meta) as tmp:  # the JSON last: it marks a complete entry
        tmp.write_text(json.dumps(provenance, indent=2, default=float) + "\n")


def _checked_info(name: str, budget: str, rec: Recipe) -> dict:
    """The provenance JSON after checking it is readable, ours, whole and made for this budget and data."""
    weights, meta = paths(name, budget)
    fix = f"call zoo.load({name!r}, retrain=True) or delete {weights} and {meta}"
    if not meta.exists():
        raise ZooError(f"{name!r} ({budget} budget) is not cached yet: zoo.load({name!r}) trains it")
    try:
        info = json.loads(meta.read_text())
        if not isinstance(info, dict) or (missing := [k for k in FIELDS if k not in info]):
            raise ValueError(f"fields missing: {missing if isinstance(info, dict) else 'all'}")
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ZooError(f"zoo file {meta} is corrupt ({err}): {fix}") from err
    if not weights.is_file():
        raise ZooError(f"zoo weights {weights} are missing (their JSON is there): {fix}")
    if _sha256(weights) != info["sha256"]:
        raise ZooError(f"zoo weights {weights} are corrupt or truncated (wrong sha256): {fix}")
    if info["name"] != name:
        raise ZooError(f"{meta} is a foreign file: it describes {info['name']!r}, not {name!r}; {fix}")
    expected = {"budget": budget, "data_version": rec.data_version, "version": _major_minor(__version__)}
    for key, want in expected.items():
        have = _major_minor(info[key]) if key == "version" else info[key]
        if have != want:
            raise ZooError(f"{meta} is mismatched: {key} is {have!r} in the file but {want!r} now; {fix}")
    return info


def _checked_model(name: str, budget: str, rec: Recipe) -> nn.Module:
    """Build the recipe's model from the cached config and load the cached weights into it."""
    info = _checked_info(name, budget, rec)
    weights, meta = paths(name, budget)
    fix = f"call zoo.load({name!r}, retrain=True) or delete {weights} and {meta}"
    model = rec.build(info["config"])
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as err:  # safetensors raises its own error type
        raise ZooError(f"zoo weights {weights} are corrupt ({err}): {fix}") from err
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    if want != have:
        diff = sorted(set(want.items()) ^ set(have.items()))[:3]
        why = "the recipe changed since it was cached, or its build and train disagree"
        raise ZooError(
            f"{weights} is mismatched: recipe.build(config) makes other tensors (e.g. {diff}); {why}; {fix}"
        )
    model.load_state_dict(state)
    return model


def load(name: str, *, budget: str | None = None, retrain: bool = False, device=None) -> nn.Module:
    """The zoo model ``name`` for ``budget`` (default: the current one) in eval mode; trains and caches it
    first when it is not cached yet, or always with ``retrain=True`` (which also replaces bad files)."""
    rec = recipe(name)
    budget = _budget(budget, rec)
    weights, meta = paths(name, budget)
    if retrain or not meta.exists():  # the JSON is written last, so without it there is no complete entry
        why = "retraining it" if retrain else "not cached yet, training it"
        print(f"zoo: {name} ({budget} budget) {why} now -> {weights}")
        _train_and_save(name, budget, rec)
    model = _checked_model(name, budget, rec)
    return model.to(device if device is not None else default_device()).eval()


def info(name: str, *, budget: str | None = None) -> dict:
    """The provenance JSON of a cached zoo model (config, steps, metrics, versions, created, sha256)."""
    rec = recipe(name)
    return _checked_info(name, _budget(budget, rec), rec)


def main(argv: list[str] | None = None) -> None:
    """``python -m minidiff.zoo NAME ...``: train and cache (or check) zoo models for the current budget."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m minidiff.zoo", description=main.__doc__)
    parser.add_argument("names", nargs="*", help=f"models to make ready (known: {', '.join(names())})")
    parser.add_argument("--retrain", action="store_true", help="train again even when cached")
    args = parser.parse_args(argv)
    for name in args.names or names():
        load(name, retrain=args.retrain)
        print(f"zoo: {name} ready ({_budget(None, recipe(name))} budget) in {home() / 'zoo'}")


if __name__ == "__main__":
    main()
