"""The model zoo: a cache of trained models, handed the recipe that makes each one.

``zoo.load(recipe)`` (or ``recipe.load()``) returns the model a :class:`Recipe` describes, for the current
budget: from the cache when it is there, else trained by ``recipe.train`` (which shows its own progress bar)
and then cached under ``home() / "zoo"`` as ``<name>-<budget>.safetensors`` plus ``<name>-<budget>.json``
(config and provenance). A chapter that trains a recipe's model itself hands it over with ``zoo.store``.
Recipes live beside the model they train (``minidiff.judges.emoji.RECIPE``); the zoo imports none of them.
Loading checks both files and says exactly what is wrong; nothing is ever unpickled.

A cache that cannot be written (read-only disk, bad ``MINIDIFF_HOME``) never throws training away: the model
is returned, kept for the rest of the process, and one line says where it could not be saved. Two processes
that ask for the same missing model take turns (a lock file): one trains, the other waits and loads.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from minidiff.checkpoint import atomic_path, storable
from minidiff.settings import BUDGETS, VERSION, home, smoke
from minidiff.settings import budget as current_budget
from minidiff.settings import device as default_device

try:
    import fcntl  # POSIX file locks (Linux, macOS, Colab); Windows runs without the lock
except ImportError:  # pragma: no cover
    fcntl = None

FIELDS = ("name", "budget", "version", "data_version", "steps", "metrics", "config", "created", "sha256")
RULER = "ruler"  # the budget field of a ruler's files: one model for every budget
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ZooError(ValueError):
    """A recipe is malformed, or its cached files are corrupt, truncated, foreign or mismatched."""


@dataclass(frozen=True)
class Recipe:
    """How to build and train one zoo model.

    ``build(config)`` makes the untrained model from its JSON-able config. ``train(budget)`` trains one and
    returns ``(model, config, steps, metrics)``, ``model`` holding the weights to keep (e.g. the EMA copy);
    a *ruler* (a judge) is trained one way for every budget, so its ``train()`` takes no budget at all.
    """

    name: str
    build: Callable[[dict], nn.Module]
    train: Callable[..., tuple[nn.Module, dict, int, dict]]
    data_version: str
    description: str = ""
    ruler: bool = False
    config_keys: frozenset[str] | None = (
        None  # the keys build() reads; a cached config with others is refused
    )
    max_parameters: int = (
        100_000_000  # a cached config that asks for more is refused before anything is built
    )

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            why = "use letters, digits, '-', '_' and '.' (it becomes a file name)"
            raise ZooError(f"zoo name {self.name!r}: {why}")

    def load(self, **kwargs) -> nn.Module:
        """``zoo.load(self, **kwargs)``."""
        return load(self, **kwargs)


# ---- helpers -------------------------------------------------------------------------------------

_UNSAVED: dict[tuple[str, str, str], nn.Module] = {}  # models trained here that the cache could not keep
_WARNED: set[str] = set()


def _recipe(recipe) -> Recipe:
    if not isinstance(recipe, Recipe):
        hint = " (the zoo has no names: pass the recipe, e.g. minidiff.judges.emoji.RECIPE)"
        raise ZooError(
            f"zoo functions take a zoo.Recipe, got {recipe!r}{hint if isinstance(recipe, str) else ''}"
        )
    return recipe


def _budget(recipe: Recipe, budget: str | None) -> str:
    """The budget the files are for: the one asked for, else the current one; a ruler has one for all."""
    if recipe.ruler:
        if budget is not None:
            raise ZooError(f"{recipe.name!r} is a ruler, trained one way for every budget: call it without "
                           f"budget= (got budget={budget!r})")  # fmt: skip
        return RULER
    budget = budget if budget is not None else current_budget()
    if budget not in BUDGETS:
        raise ZooError(f"budget={budget!r}: use one of {', '.join(BUDGETS)}")
    return budget


def paths(recipe: Recipe, budget: str | None = None) -> tuple[Path, Path]:
    """(weights, provenance) file paths of a zoo model for ``budget`` (default: the current one)."""
    recipe = _recipe(recipe)
    budget = _budget(recipe, budget)
    stem = recipe.name if budget == RULER else f"{recipe.name}-{budget}"
    folder = _folder()
    return folder / f"{stem}.safetensors", folder / f"{stem}.json"


def _folder() -> Path:
    """``home() / "zoo"``; in smoke mode ``home() / "zoo-smoke"``, so a smoke run's 2-step models never
    replace, or stand in for, real ones."""
    return home() / ("zoo-smoke" if smoke() else "zoo")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _major_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def _fix(recipe: Recipe, weights: Path, meta: Path) -> str:
    return f"retrain it with {recipe.name}'s recipe.load(retrain=True), or delete {weights} and {meta}"


@contextlib.contextmanager
def _turn(weights: Path):
    """Hold the lock file beside ``weights`` so two processes never train the same model at once.

    Without a writable folder (or on Windows) there is nothing to lock and the block runs unguarded.
    """
    lock = weights.with_name(f".{weights.stem}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")  # noqa: SIM115 (closed below, after the lock is released)
    except OSError:
        yield
        return
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"zoo: another process is making {weights.stem}; waiting for it", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing releases the lock


# ---- train and save ------------------------------------------------------------------------------


def _train(recipe: Recipe, budget: str) -> tuple[nn.Module, dict, int, dict]:
    out = recipe.train() if budget == RULER else recipe.train(budget)
    if not (isinstance(out, tuple) and len(out) == 4 and isinstance(out[0], nn.Module)):
        raise ZooError(f"{recipe.name}: recipe.train must return (model, config, steps, metrics)")
    return out


def _save(recipe: Recipe, budget: str, model: nn.Module, config: dict, steps: int, metrics: dict) -> None:
    weights, meta = paths(recipe, None if budget == RULER else budget)
    meta.unlink(missing_ok=True)  # no JSON = no entry: a crash before the new JSON lands means "not cached"
    with atomic_path(weights) as tmp:
        save_file(storable(model.state_dict()), str(tmp))
        sha256 = _sha256(tmp)
    provenance = {
        "name": recipe.name,
        "budget": budget,
        "version": VERSION,
        "data_version": recipe.data_version,
        "steps": int(steps),
        "metrics": metrics,
        "config": config,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sha256": sha256,
        "description": recipe.description,
        "torch": torch.__version__,
    }
    with atomic_path(meta) as tmp:  # the JSON last: it marks a complete entry
        tmp.write_text(json.dumps(provenance, indent=2, default=float) + "\n")


def _keep_unsaved(key: tuple[str, str, str], model: nn.Module, weights: Path, error: OSError) -> None:
    """The cache refused the files: keep the model for this process and say so, once per folder."""
    _UNSAVED[key] = model
    folder = str(weights.parent)
    if folder not in _WARNED:
        _WARNED.add(folder)
        fix = "the model is kept for this session only: set MINIDIFF_HOME to a writable folder to cache it"
        print(
            f"zoo: could not save {weights.name} in {folder} ({error.strerror or error}); {fix}",
            file=sys.stderr,
        )


# ---- check and load ------------------------------------------------------------------------------


def _unknown_keys(recipe: Recipe, config: dict) -> list[str]:
    """The keys of ``config`` that the recipe does not read (none when it does not say which it reads)."""
    return [] if recipe.config_keys is None else sorted(set(config) - set(recipe.config_keys))


def _differences(want: dict, have: dict) -> list:
    """Up to three (name, shape) pairs found in one of two tensor-shape maps and not the other."""
    return sorted(set(want.items()) ^ set(have.items()))[:3]


def _checked_info(recipe: Recipe, budget: str) -> dict:
    """The provenance JSON after checking it is readable, ours, whole and made for this budget and data."""
    weights, meta = paths(recipe, None if budget == RULER else budget)
    fix = _fix(recipe, weights, meta)
    if not meta.exists():
        raise ZooError(f"{recipe.name!r} ({budget}) is not cached yet: zoo.load(recipe) trains it")
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
    if info["name"] != recipe.name:
        raise ZooError(f"{meta} is a foreign file: it describes {info['name']!r}, not {recipe.name!r}; {fix}")
    expected = {"budget": budget, "data_version": recipe.data_version, "version": _major_minor(VERSION)}
    for key, want in expected.items():
        have = _major_minor(info[key]) if key == "version" else info[key]
        if have != want:
            raise ZooError(f"{meta} is mismatched: {key} is {have!r} in the file but {want!r} now; {fix}")
    if not isinstance(info["config"], dict):
        raise ZooError(f"{meta} is corrupt: its config is {type(info['config']).__name__}, not a dict; {fix}")
    if unknown := _unknown_keys(recipe, info["config"]):
        raise ZooError(f"{meta}: its config has unknown keys {unknown} (this recipe reads "
                       f"{sorted(recipe.config_keys)}); {fix}")  # fmt: skip
    return info


def _shapes_on_meta(recipe: Recipe, config: dict, where: Path, fix: str) -> dict[str, tuple[int, ...]]:
    """The tensor shapes ``build(config)`` makes, found on the meta device: nothing is allocated yet."""
    try:
        with torch.device("meta"):
            model = recipe.build(config)
    except Exception as err:  # a config with unknown keys or values the model refuses
        raise ZooError(
            f"{where}: its config {config} does not build this recipe's model ({err}); {fix}"
        ) from err
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    size = sum(torch.Size(s).numel() for s in shapes.values())
    if size > recipe.max_parameters:
        raise ZooError(f"{where}: its config {config} asks for {size:,} numbers, over the recipe's limit of "
                       f"{recipe.max_parameters:,}; {fix}")  # fmt: skip
    return shapes


def _checked_model(recipe: Recipe, budget: str) -> nn.Module:
    """Build the recipe's model from the cached config and load the cached weights into it."""
    info = _checked_info(recipe, budget)
    weights, meta = paths(recipe, None if budget == RULER else budget)
    fix = _fix(recipe, weights, meta)
    want = _shapes_on_meta(recipe, info["config"], meta, fix)
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            have = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
            if want == have:
                state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error type
        raise ZooError(f"zoo weights {weights} are corrupt ({err}): {fix}") from err
    if want != have:
        diff = _differences(want, have)
        why = "the recipe changed since it was cached, or its build and train disagree"
        raise ZooError(
            f"{weights} is mismatched: recipe.build(config) makes other tensors (e.g. {diff}); {why}; {fix}"
        )
    model = recipe.build(info["config"])
    model.load_state_dict(state)
    return model


def load(recipe: Recipe, *, budget: str | None = None, retrain: bool = False, device=None) -> nn.Module:
    """The model ``recipe`` makes, for ``budget`` (default: the current one), in eval mode on ``device``.

    Trains and caches it first when it is not cached yet, or always with ``retrain=True`` (which also
    replaces bad files). An explicit ``budget`` is used as given; a ruler takes none.
    """
    recipe = _recipe(recipe)
    budget = _budget(recipe, budget)
    weights, meta = paths(recipe, None if budget == RULER else budget)
    key = (recipe.name, budget, str(weights.parent))
    device = device if device is not None else default_device()
    if key in _UNSAVED and not retrain:
        return copy.deepcopy(_UNSAVED[key]).to(device).eval()
    with _turn(weights):
        if retrain or not meta.exists():  # the JSON is written last, so without it there is no complete entry
            why = "retraining it" if retrain else "not cached yet, training it"
            print(f"zoo: {recipe.name} ({budget}) {why} now -> {weights}")
            model, config, steps, metrics = _train(recipe, budget)
            if not _stored(recipe, budget, model, config, steps, metrics):
                return copy.deepcopy(model).to(device).eval()
        model = _checked_model(recipe, budget)
    return model.to(device).eval()


def _stored(recipe: Recipe, budget: str, model: nn.Module, config: dict, steps: int, metrics: dict) -> bool:
    """Save an entry; a cache that refuses the files keeps the model for this process instead (False)."""
    weights, _ = paths(recipe, None if budget == RULER else budget)
    key = (recipe.name, budget, str(weights.parent))
    try:
        _save(recipe, budget, model, config, steps, metrics)
    except OSError as error:
        _keep_unsaved(key, model, weights, error)
        return False
    _UNSAVED.pop(key, None)
    return True


def store(recipe: Recipe, model: nn.Module, *, config: dict, steps: int, metrics: dict,
          budget: str | None = None) -> Path:  # fmt: skip
    """Cache a model that a chapter trained the recipe's way (``recipe.train``'s four results), so that
    later chapters ``load`` it instead of training it again. Checks it as ``load`` would (the config
    builds the recipe's model with the same tensors) and returns the weights' path."""
    recipe = _recipe(recipe)
    budget = _budget(recipe, budget)
    weights, meta = paths(recipe, None if budget == RULER else budget)
    if not isinstance(config, dict):
        raise ZooError(f"{recipe.name}: config is a {type(config).__name__}: pass the dict recipe.train "
                       "returns")  # fmt: skip
    fix = "pass the model, config, steps and metrics that recipe.train returned, unchanged"
    if unknown := _unknown_keys(recipe, config):
        raise ZooError(f"{recipe.name}: config has unknown keys {unknown}; {fix}")
    want = _shapes_on_meta(recipe, config, meta, fix)
    have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if want != have:
        diff = _differences(want, have)
        raise ZooError(f"{recipe.name}: this model does not fit its config (e.g. {diff}); {fix}")
    with _turn(weights):
        _stored(recipe, budget, copy.deepcopy(model).cpu().eval(), config, steps, metrics)
    return weights


def info(recipe: Recipe, *, budget: str | None = None) -> dict:
    """The provenance JSON of a cached zoo model (config, steps, metrics, versions, created, sha256)."""
    recipe = _recipe(recipe)
    return _checked_info(recipe, _budget(recipe, budget))


def cached() -> list[dict]:
    """What the cache holds: name, budget, steps, created and size of every complete entry."""
    rows = []
    for meta in sorted(_folder().glob("*.json")):
        try:
            entry = json.loads(meta.read_text())
            size = meta.with_suffix(".safetensors").stat().st_size
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict):
            rows.append({k: entry.get(k) for k in ("name", "budget", "steps", "created")} | {"bytes": size})
    return rows


def main(argv: list[str] | None = None) -> None:
    """``python -m minidiff.zoo``: list the cached models (``python -m minidiff.judges`` trains judges)."""
    import argparse

    argparse.ArgumentParser(prog="python -m minidiff.zoo", description=main.__doc__).parse_args(argv)
    rows = cached()
    print(f"zoo cache: {_folder()} ({len(rows)} models)")
    for row in rows:
        size = f"{row['bytes'] / 1e6:6.1f} MB"
        print(f"  {row['name']:<16} {row['budget']:<6} {row['steps']:>7} steps  {size}  {row['created']}")


if __name__ == "__main__":
    main()
