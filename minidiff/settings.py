"""The few settings every chapter starts with: budget, device, seeds, threads and where the cache lives.

A *budget* says how much compute a chapter may spend:

- ``quick``: CI and ``pytest --nbval`` (each notebook <= 60 s on 2 CPU cores; results are only smoke),
- ``cpu``: a laptop (<= ~10 min a chapter; results visibly right),
- ``gpu``: a Colab T4 (<= ~15 min a chapter; results good).

The default is ``gpu`` when CUDA (or Apple MPS) is available, else ``cpu``; the environment variable
``MINIDIFF_BUDGET`` overrides it. Chapters size everything with one call:
``steps = pick(quick=40, cpu=2_000, gpu=15_000)``.

**Smoke mode** (``MINIDIFF_SMOKE=1``, used by ``make smoke`` with ``MINIDIFF_BUDGET=gpu``) runs a chapter's
``gpu`` code on a CPU in seconds: ``pick()`` still returns the ``gpu`` value (presets, datasets,
resolutions, batch sizes as written), while ``count()`` (how many steps, samples, seeds or repeats) is capped
at ``SMOKE_COUNT``, ``train.train`` at ``SMOKE_STEPS`` steps of at most ``SMOKE_COUNT`` images without
checkpoints, the samplers at ``SMOKE_STEPS`` steps (except when they return the whole path, which
callers index by step), and the zoo reads and writes a separate folder
(``home() / "zoo-smoke"``) so that a smoke run never caches, or loads, a real model. Its numbers mean
nothing; it only proves the ``gpu`` path runs. Nothing else changes: one mechanism, no per-chapter ``if``.

Each setting is decided in one place: the budget by ``budget()`` (the environment, else the hardware),
torch's thread count once per kernel by ``minidiff.colab.setup()`` (through ``set_threads()``), the cache
folder by ``home()``. This module sits on the lowest floor of the package: it imports nothing from minidiff.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch

VERSION = "0.1.0"  # the package version (pyproject reads it from here); checkpoints and zoo files record it
BUDGETS = ("quick", "cpu", "gpu")
COLAB_DRIVE = Path("/content/drive/MyDrive")  # where Colab mounts Google Drive
_STARTED = time.perf_counter()  # when the notebook first imported minidiff: its wall time starts here


def _accelerator() -> str | None:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return None


def budget() -> str:
    """The current budget: ``MINIDIFF_BUDGET`` if set, else ``gpu`` with an accelerator, else ``cpu``."""
    name = os.environ.get("MINIDIFF_BUDGET", "").strip().lower()
    if name:
        if name not in BUDGETS:
            raise ValueError(f"MINIDIFF_BUDGET={name!r} is not a budget: use one of {', '.join(BUDGETS)}")
        return name
    return "gpu" if _accelerator() else "cpu"


def pick(quick, cpu, gpu, *, budget_name: str | None = None):
    """Return the value for the current budget, e.g. ``pick(quick=40, cpu=2_000, gpu=15_000)``."""
    name = budget_name or budget()
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}: use one of {', '.join(BUDGETS)}")
    return {"quick": quick, "cpu": cpu, "gpu": gpu}[name]


SMOKE_STEPS = 2  # training and sampling steps in smoke mode
SMOKE_COUNT = 4  # the most count() returns, and train's batch size, in smoke mode


def smoke() -> bool:
    """True in smoke mode: ``MINIDIFF_SMOKE`` set to 1/true/yes (see the module docstring)."""
    value = os.environ.get("MINIDIFF_SMOKE", "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"MINIDIFF_SMOKE={value!r}: use 1 (smoke mode) or 0")


def count(quick, cpu, gpu, *, budget_name: str | None = None):
    """How many times to do something (training steps, samples, seeds, repeats) for the current budget.

    The same as ``pick()``, except in smoke mode, where each number is capped at ``SMOKE_COUNT`` (a tuple
    or list of numbers is capped element by element), e.g. ``n = count(quick=64, cpu=256, gpu=1_024)``.
    Use ``pick()`` for what sets a size (a preset, a resolution, a dataset, a batch size).
    """
    value = pick(quick, cpu, gpu, budget_name=budget_name)
    if not smoke():
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(min(v, SMOKE_COUNT) for v in value)
    return min(value, SMOKE_COUNT)


def smoke_off():
    """A block in which smoke mode is off (``checks`` compares the learner's code with the reference at
    exactly the sizes it gives, also under ``make smoke``); the environment is restored after it."""
    from unittest import mock  # the standard library's set-then-restore of os.environ

    return mock.patch.dict(os.environ, {"MINIDIFF_SMOKE": "0"})


def smoke_steps(steps: int) -> int:
    """``steps``, or at most ``SMOKE_STEPS`` in smoke mode (train and the samplers call this)."""
    return min(steps, SMOKE_STEPS) if smoke() else steps


def device() -> torch.device:
    """CUDA if available, then Apple MPS, else CPU; ``MINIDIFF_DEVICE`` (e.g. ``cpu``) overrides."""
    forced = os.environ.get("MINIDIFF_DEVICE", "").strip()
    if forced:
        return torch.device(forced)
    return torch.device(_accelerator() or "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so a re-run draws the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads() -> int:
    """Decide torch's CPU thread count (``colab.setup()`` calls this once per kernel) and return it.

    ``MINIDIFF_THREADS`` wins; when notebooks run in parallel under pytest-xdist (the kernel inherits
    ``PYTEST_XDIST_WORKER``) each kernel gets 1 thread so two kernels do not fight over 2 cores;
    otherwise torch's default (one per core) is kept.
    """
    wanted = os.environ.get("MINIDIFF_THREADS")
    if wanted:
        torch.set_num_threads(int(wanted))
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
    return torch.get_num_threads()


@contextlib.contextmanager
def one_thread():
    """Run the block on one CPU thread, then restore the count (a timing as a single-threaded client would
    see it; or work that a second thread on a busy core only slows down)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def threads() -> int:
    """How many CPU threads torch uses (decided by ``set_threads()``; this only reads it)."""
    return torch.get_num_threads()


def home() -> Path:
    """The package cache (zoo models, rendered data): ``$MINIDIFF_HOME``, else a mounted Colab Drive's
    ``MyDrive/minidiff`` (Drive survives Colab's runtime resets), else ``~/.cache/minidiff``."""
    if os.environ.get("MINIDIFF_HOME"):
        return Path(os.environ["MINIDIFF_HOME"]).expanduser()
    if COLAB_DRIVE.is_dir():
        return COLAB_DRIVE / "minidiff"
    return Path.home() / ".cache" / "minidiff"


def describe() -> str:
    """One line for a notebook's top: budget, device, threads, torch version."""
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    return f"budget={budget()} device={name} threads={torch.get_num_threads()} torch={torch.__version__}"


def hardware() -> str:
    """The machine in a few words, e.g. ``CPU x86_64 (2 cores)`` or ``Tesla T4``."""
    dev = device()
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{'Apple MPS' if dev.type == 'mps' else 'CPU'} {platform.machine()} ({os.cpu_count()} cores)"


def run_summary() -> str:
    """What produced a notebook's outputs: budget, hardware and the wall time of the run.

    The time counts from ``$MINIDIFF_RUN_STARTED`` (a Unix time; ``make notebooks`` sets it when it starts the
    kernel, so this equals the stamp) or else from when minidiff was first imported.

    Each chapter prints it in its last cell; ``make notebooks`` copies it into the chapter's first cell.
    """
    started = os.environ.get(
        "MINIDIFF_RUN_STARTED"
    )  # set by tools/stamp.py: the whole run, kernel start included
    try:
        minutes = (time.time() - float(started)) / 60
    except (TypeError, ValueError):
        minutes = (time.perf_counter() - _STARTED) / 60
    return f"budget `{budget()}`, {hardware()}, {minutes:.1f} min"
