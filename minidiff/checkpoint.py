"""Checkpoints: one safetensors file that holds everything an exact resume needs, written atomically.

Tensors: ``model.*``, ``ema.*``, ``optim.<param_idx>.<key>``, ``rng.*``, ``history.*``; the rest (step,
config, the model's class and config, optimizer param_groups, GradScaler, Python/NumPy RNG) is JSON under
the header key "minidiff", and a sha256 of it all under "minidiff.sha256". Nothing is ever unpickled: a
foreign, damaged or mismatched file gives a ValueError that says what to do. Temp files of saves that were
killed mid-write are removed at the next save or load of the same path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from minidiff.settings import VERSION

# ---- atomic writes, and the temp files a killed write leaves --------------------------------------

_HOST = re.sub(r"\W", "_", socket.gethostname()) or "host"  # temp names hold the writer's machine and pid
_WRITING: set[str] = set()  # temp files this process is writing right now
STALE_AFTER = 3600  # seconds: a temp file whose writer cannot be asked about, untouched this long, is stale


def _alive(pid: int) -> bool | None:
    """Whether process ``pid`` runs on this machine; None where that cannot be asked (Windows)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return None
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def remove_stale_temp_files(path) -> list[Path]:
    """Delete the temp files (``.<name>.<host>-<pid>.*.tmp``) that killed saves of ``path`` left beside it.

    Never one that a live process may still be writing: on this machine a file is stale when its writer's
    process is gone, or is this process and not writing it; other machines' files (a shared Drive) and
    files of older versions are stale when untouched for ``STALE_AFTER`` seconds.
    """
    path = Path(path)
    name = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<host>\w+)-(?P<pid>\d+)\.)?[^.]+\.tmp")
    removed = []
    with contextlib.suppress(OSError):  # a missing or unreadable folder has nothing to clean
        for tmp in path.parent.iterdir():
            match = name.fullmatch(tmp.name)
            if match is None or str(tmp) in _WRITING:
                continue
            alive = None
            if match["host"] == _HOST:
                pid = int(match["pid"])
                alive = False if pid == os.getpid() else _alive(pid)
            with contextlib.suppress(OSError):
                if alive is False or (alive is None and time.time() - tmp.stat().st_mtime > STALE_AFTER):
                    tmp.unlink()
                    removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; when the block succeeds, fsync it and rename it onto ``path``.

    A crash or Ctrl-C mid-write leaves the old file untouched: ``os.replace`` within one folder is atomic.
    A kill (SIGKILL, a dead kernel) leaves the temp file: the next write of ``path`` removes it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    prefix = f".{path.name}.{_HOST}-{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(fd)
    _WRITING.add(tmp)
    try:
        yield Path(tmp)
        with open(tmp, "r+b") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _WRITING.discard(tmp)


# ---- what a checkpoint holds ---------------------------------------------------------------------


def storable(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous and no two tensors sharing memory (tied weights): what safetensors accepts."""
    out, seen = {}, set()
    for name, value in tensors.items():
        value = value.detach().cpu().contiguous()
        ptr = value.untyped_storage().data_ptr()
        out[name] = value.clone() if ptr in seen else value
        seen.add(ptr)
    return out


def rng_state(generator: torch.Generator | None) -> tuple[dict, dict]:
    """Every RNG a step may draw from as (tensors, JSON): torch CPU/CUDA/MPS, the data's, Python, NumPy."""
    name, keys, *rest = np.random.get_state()  # ("MT19937", 624 uint32 keys, pos, has_gauss, cached)
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(keys.astype(np.int64))}
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    tensors.update({f"rng.cuda.{i}": state for i, state in enumerate(cuda)})
    if torch.backends.mps.is_available():
        tensors["rng.mps"] = torch.mps.get_rng_state()
    if generator is not None:
        tensors["rng.data"] = generator.get_state()
    return tensors, {"cuda": len(cuda), "python": random.getstate(), "numpy": [name, *rest]}


def _set_rng_state(tensors: dict, meta: dict, generator: torch.Generator | None) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if meta["cuda"] and torch.cuda.is_available() and meta["cuda"] == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[f"rng.cuda.{i}"] for i in range(meta["cuda"])])
    if "rng.mps" in tensors and torch.backends.mps.is_available():
        torch.mps.set_rng_state(tensors["rng.mps"])
    if "rng.data" in tensors and generator is not None:
        generator.set_state(tensors["rng.data"])
    version, internal, gauss = meta["python"]  # JSON made the tuples lists
    random.setstate((version, tuple(internal), gauss))
    name, *rest = meta["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), *rest))


@dataclass
class History:
    """What a run logged: loss and gradient norm per step, recent per-sample (t, loss) pairs, wall time."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # mean loss of each step's batch
    grad_norms: list[float] = field(default_factory=list)  # global gradient norm before clipping
    t: list[float] = field(default_factory=list)  # the last cfg.keep_samples per-sample t ...
    t_losses: list[float] = field(default_factory=list)  # ... and their losses, for loss-by-t plots
    wall_time: float = 0.0  # seconds of training, summed over resumes
    ema: nn.Module | None = field(default=None, compare=False)  # the EMA model (None without EMA)

    def __repr__(self) -> str:
        last = f"step {self.steps[-1]}, loss {self.losses[-1]:.4g}" if self.steps else "no steps yet"
        return f"History({last}, {self.wall_time:.1f} s)"


HISTORY_LISTS = ("steps", "losses", "grad_norms", "t", "t_losses")


def model_config(model: nn.Module) -> dict | None:
    """``asdict(model.cfg)`` as JSON types when the model keeps a dataclass config (like UNet), else None."""
    cfg = getattr(model, "cfg", None)
    if cfg is None or not is_dataclass(cfg) or isinstance(cfg, type):
        return None
    return json.loads(json.dumps(asdict(cfg), default=str))


def _checksum(tensors: dict[str, torch.Tensor], header: str) -> str:
    """sha256 of the JSON header and of every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256(header.encode())
    for name in sorted(tensors):
        value = tensors[name]
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def save_checkpoint(path, model: nn.Module, *, ema=None, optimizer=None, scaler=None,
                    generator: torch.Generator | None = None, step: int = 0, history: History | None = None,
                    config=None, rng: dict | None = None) -> None:  # fmt: skip
    """Write everything a resume needs into ONE safetensors file, atomically (temp file + os.replace).

    Tensors: ``model.*``, ``ema.*``, ``optim.<param_idx>.<key>``, ``rng.*``, ``history.*``. The rest (step,
    config, the model's class and ``model_config``, optimizer param_groups, GradScaler, Python/NumPy RNG) is
    JSON under the header key "minidiff"; "minidiff.sha256" holds a checksum of the JSON and every tensor.
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {"format": 2, "version": VERSION, "model": type(model).__name__, "step": step}
    meta["model_config"] = model_config(model)
    meta["config"] = asdict(config) if config is not None else None
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.model.state_dict().items()})
        meta["ema_step"] = ema.step
    if optimizer is not None:
        state = optimizer.state_dict()
        extra = {}  # non-tensor per-parameter state (e.g. a Python int step) goes to JSON
        for idx, slots in state["state"].items():
            for key, value in slots.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{idx}.{key}"] = value
                else:
                    extra.setdefault(str(idx), {})[key] = value
        meta["optim"] = dict(param_groups=state["param_groups"], state=extra, cls=type(optimizer).__name__)
    meta["scaler"] = scaler.state_dict() if scaler is not None else {}
    rng_tensors, meta["rng"] = rng if rng is not None else rng_state(generator)
    tensors.update(rng_tensors)
    if history is not None:
        for key in HISTORY_LISTS:  # float64 keeps every Python float exact
            dtype = torch.int64 if key == "steps" else torch.float64
            tensors[f"history.{key}"] = torch.tensor(getattr(history, key), dtype=dtype)
        meta["wall_time"] = history.wall_time
    header = json.dumps(meta, default=lambda o: o.item() if hasattr(o, "item") else str(o))  # numpy scalars
    tensors = storable(tensors)
    metadata = {"minidiff": header, "minidiff.sha256": _checksum(tensors, header)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def _check_model(path, meta: dict, model: nn.Module, fix: str) -> None:
    """A ValueError naming both classes and configs when ``model`` is not what the file was saved from."""
    saved_class, saved_config = meta.get("model"), meta.get("model_config")
    now_class, now_config = type(model).__name__, model_config(model)
    same_config = "model_config" not in meta or saved_config == now_config  # files before format 2: unknown
    if (saved_class is None or saved_class == now_class) and same_config:
        return
    differs = ""
    if isinstance(saved_config, dict) and isinstance(now_config, dict):
        keys = sorted(
            k for k in saved_config.keys() | now_config.keys() if saved_config.get(k) != now_config.get(k)
        )
        differs = " (" + ", ".join(f"{k} {saved_config.get(k)} vs {now_config.get(k)}" for k in keys) + ")"
    raise ValueError(f"{path} was saved from {saved_class} with config {saved_config}, but this model is "
                     f"{now_class} with config {now_config}{differs}: build the model with the saved config "
                     f"to continue that run, or {fix}")  # fmt: skip


def _weights(path, prefix: str, module: nn.Module, tensors: dict, fix: str) -> dict[str, torch.Tensor]:
    """The ``prefix.*`` tensors as a state dict for ``module``, or a ValueError naming what does not fit."""
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    have = {k[len(prefix) + 1 :]: tuple(v.shape) for k, v in tensors.items() if k.startswith(prefix + ".")}
    problems = []
    if missing := sorted(want.keys() - have.keys()):
        problems.append(f"{len(missing)} {prefix} tensors missing, e.g. {missing[:3]}")
    if unexpected := sorted(have.keys() - want.keys()):
        problems.append(f"{len(unexpected)} unexpected {prefix} tensors, e.g. {unexpected[:3]}")
    if wrong := [f"{k} {have[k]} vs {want[k]}" for k in sorted(want.keys() & have) if have[k] != want[k]]:
        problems.append(f"{len(wrong)} shapes differ, e.g. {wrong[:3]}")
    if problems:
        raise ValueError(f"{path} does not fit this model ({'; '.join(problems)}): it was saved from another "
                         f"model or config; {fix}")  # fmt: skip
    return {k: tensors[f"{prefix}.{k}"] for k in want}


def load_checkpoint(path, model: nn.Module, *, ema=None, optimizer=None, scaler=None,
                    generator: torch.Generator | None = None, restore_rng: bool = False,
                    weights: str = "model") -> dict:  # fmt: skip
    """Load a checkpoint from ``save_checkpoint`` into the objects given; return its JSON (with a History).

    ``weights="ema"`` puts the EMA weights into ``model`` (for sampling). Checks the file first and raises a
    ValueError that says what is wrong (missing, not safetensors, truncated, not minidiff's, corrupt, saved
    from another model class or config, shapes that do not fit).
    """
    path, fix = Path(path), "delete it or pass resume=False to train from scratch"
    remove_stale_temp_files(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}: check the path (train() writes it to cfg.ckpt_path)")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except Exception as err:  # safetensors raises its own error type for bad headers and short files
        raise ValueError(f"{path} is truncated or corrupt (not whole safetensors: {err}); {fix}") from err
    try:
        meta = json.loads(header["minidiff"])
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is a safetensors file but not a minidiff checkpoint (no valid 'minidiff' "
                         f"metadata); {fix}") from err  # fmt: skip
    if "minidiff.sha256" in header and _checksum(tensors, header["minidiff"]) != header["minidiff.sha256"]:
        raise ValueError(f"{path} is corrupt: its contents no longer match the checksum saved with them (a "
                         f"damaged disk, copy or download); {fix}")  # fmt: skip
    _check_model(path, meta, model, fix)
    model.load_state_dict(_weights(path, weights, model, tensors, fix))
    if ema is not None:
        ema.model.load_state_dict(_weights(path, "ema", ema.model, tensors, fix))
        ema.step = meta["ema_step"]
    if optimizer is not None:
        saved = meta.get("optim") or {}
        if (name := saved.get("cls")) != type(optimizer).__name__:
            raise ValueError(f"{path} holds {name} optimizer state, not {type(optimizer).__name__}; {fix}")
        state = {int(idx): dict(slots) for idx, slots in saved["state"].items()}
        for name, value in tensors.items():
            if name.startswith("optim."):
                _, idx, key = name.split(".", 2)
                state.setdefault(int(idx), {})[key] = value
        groups = [  # JSON turned tuples (AdamW's betas) into lists: give them back their type
            {k: tuple(v) if isinstance(now.get(k), tuple) else v for k, v in group.items()}
            for group, now in zip(saved["param_groups"], optimizer.param_groups)
        ]
        try:
            optimizer.load_state_dict({"state": state, "param_groups": groups})
        except (ValueError, KeyError) as err:
            raise ValueError(f"{path}: optimizer state does not fit ({err}); {fix}") from err
    if scaler is not None and scaler.is_enabled() and meta["scaler"]:
        scaler.load_state_dict(meta["scaler"])
    if restore_rng:
        _set_rng_state(tensors, meta["rng"], generator)
    history = History(wall_time=meta.get("wall_time", 0.0))
    for key in HISTORY_LISTS:
        if f"history.{key}" in tensors:
            setattr(history, key, tensors[f"history.{key}"].tolist())
    return {**meta, "history": history}
