"""One visible training loop: AMP, EMA, gradient clipping and accumulation, exact checkpoint/resume.

``train(model, loss_fn, data, cfg)`` runs ``zero_grad → loss → backward → clip → step → EMA → log`` as a
plain ``for`` loop (no callbacks) and returns a :class:`History`. With ``cfg.ckpt_path`` set it writes ONE
safetensors file (weights, EMA, optimizer, every RNG, history) every ``cfg.ckpt_every`` steps, at the end and
on Ctrl-C; calling ``train`` again continues from it, bit for bit the same as a run that was never stopped.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import signal
import threading
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from signal import SIGINT

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from minidiff.checkpoint import History, load_checkpoint, rng_state, save_checkpoint
from minidiff.settings import SMOKE_COUNT, seed_everything, smoke, smoke_steps
from minidiff.settings import device as default_device

AMP = ("auto", "bf16", "fp16", "off")


# ---- helpers -------------------------------------------------------------------------------------


def amp_dtype(device) -> torch.dtype | None:
    """The autocast dtype for a device: bf16 on CUDA that has it, fp16 on older CUDA (T4), else None (fp32).

    None on CPU and MPS: CPU autocast to bf16 is slower than fp32 on most laptops, and MPS autocast covers
    few ops (and has no GradScaler in older torch), so mixed precision gains little there and risks a lot.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return None
    # bf16 needs compute capability 8 (Ampere); torch.cuda.is_bf16_supported() says True on a T4 (7.5)
    # because it can *emulate* bf16 there, slowly
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch  # captions and other non-tensors stay as they are


@contextlib.contextmanager
def _interrupts_deferred():
    """Hold a Ctrl-C (SIGINT) until the block ends, so weights, optimizer and EMA always change together."""
    if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(SIGINT)):
        yield
        return
    caught = []
    previous = signal.signal(SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


# ---- EMA, config, history ------------------------------------------------------------------------


class EMA:
    """An exponential moving average of a model's weights; ``ema.model`` is the averaged copy to sample from.

    Each update does ``avg = decay * avg + (1 - decay) * weight``; with ``warmup`` the decay after n updates
    is ``min(decay, (1 + n) / (10 + n))``, so the average forgets the random init quickly.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup, self.step = decay, warmup, 0

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.step) / (10 + self.step)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        # named_parameters() lists a tied weight once, so it is averaged once
        source = {**dict(model.named_parameters()), **dict(model.named_buffers())}
        for name, avg in [*self.model.named_parameters(), *self.model.named_buffers()]:
            if avg.is_floating_point():
                avg.lerp_(source[name].to(avg.dtype), 1 - decay)  # avg += (1 - decay) * (weight - avg)
            else:
                avg.copy_(source[name])  # integer buffers (e.g. BatchNorm's step count) are copied
        self.step += 1

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "step": self.step, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.step = state["step"]


@dataclass
class TrainConfig:
    """Everything the loop needs; stored in each checkpoint so a resume can check it did not change."""

    steps: int
    batch_size: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float | None = 1.0  # max global gradient norm; None or 0 turns clipping off
    grad_accum: int = 1  # batches of batch_size whose gradients add up to one optimizer step
    warmup: int = 0  # steps of linear learning-rate warm-up
    ema_decay: float | None = 0.999  # None or 0: no EMA copy
    ema_warmup: bool = True
    amp: str = "auto"  # "auto" (amp_dtype(device)), "bf16", "fp16" or "off"
    ckpt_path: str | None = None
    ckpt_every: int = 0  # 0: checkpoint only at the end and on Ctrl-C
    log_every: int = 50
    keep_samples: int = 20_000  # most recent per-sample (t, loss) pairs kept for loss-by-t plots
    seed: int = 0
    progress: bool = True
    time_limit: float | None = None  # seconds: stop early once training took this long (equal-time races)

    def __post_init__(self):
        if self.amp not in AMP:
            raise ValueError(f"amp={self.amp!r}: use one of {', '.join(AMP)}")
        if self.steps < 0 or self.batch_size < 1 or self.grad_accum < 1 or self.log_every < 1:
            raise ValueError("TrainConfig: use steps >= 0, batch_size >= 1, grad_accum >= 1, log_every >= 1")
        clip, decay, limit = self.grad_clip, self.ema_decay, self.time_limit
        checks = [  # (is it wrong?, what to say); each written so that a NaN is wrong too
            (not 0 < self.lr < math.inf, f"lr={self.lr}: use a learning rate > 0, e.g. 1e-3"),
            (not self.weight_decay >= 0, f"weight_decay={self.weight_decay}: use >= 0"),
            (not all(0 <= b < 1 for b in self.betas), f"betas={self.betas}: use two numbers in [0, 1)"),
            (clip is not None and not clip >= 0, f"grad_clip={clip}: use a max norm > 0, or None for none"),
            (not self.warmup >= 0, f"warmup={self.warmup}: use a number of steps >= 0"),
            (decay is not None and not 0 <= decay < 1, f"ema_decay={decay}: use [0, 1), e.g. 0.999, or None"),
            (not self.ckpt_every >= 0, f"ckpt_every={self.ckpt_every}: use >= 0 (0: at the end only)"),
            (not self.keep_samples >= 0, f"keep_samples={self.keep_samples}: use >= 0"),
            (limit is not None and not 0 < limit < math.inf, f"time_limit={limit}: use seconds > 0, or None"),
        ]
        if problems := [say for wrong, say in checks if wrong]:
            raise ValueError("TrainConfig: " + "; ".join(problems))
        self.ckpt_path = None if self.ckpt_path is None else str(self.ckpt_path)


# ---- the loop ------------------------------------------------------------------------------------


def _warn_if_changed(path, saved: dict | None, cfg: TrainConfig) -> None:
    if not saved:
        return
    free = {"steps", "ckpt_path", "ckpt_every", "log_every", "progress", "time_limit"}  # not the maths
    now = json.loads(json.dumps(asdict(cfg)))
    changed = [f"{k} {saved.get(k)} -> {v}" for k, v in now.items() if k not in free and saved.get(k) != v]
    if changed:
        warnings.warn(f"resuming {path} with a changed config ({', '.join(changed)}): the run will differ "
                      "from an uninterrupted one", stacklevel=3)  # fmt: skip


@torch.enable_grad()  # a model that trains on demand (a zoo recipe) may be asked for inside torch.no_grad()
def train(model: nn.Module, loss_fn, data, cfg: TrainConfig, *, device=None, live=None, resume: bool = True,
          optimizer: torch.optim.Optimizer | None = None) -> History:  # fmt: skip
    """Train ``model`` for ``cfg.steps`` steps on ``loss_fn(model, data(batch_size, generator))``.

    ``loss_fn`` returns (per-sample loss (B,), t (B,)), e.g. ``lambda model, x: flow.flow_loss(model, x)``.
    Continues an existing checkpoint at ``cfg.ckpt_path`` when ``resume``; leaves ``model`` in eval mode.
    With ``cfg.time_limit`` it stops after the step that reaches that many seconds, however many steps are
    left: the learning rate has no decay to cut short, so the model is one trained for that long (the
    way to compare two models at equal wall time). In smoke mode (``minidiff.settings``) it runs 2 steps
    of at most 4 images and touches no checkpoint.
    """
    if smoke():  # make smoke: a couple of small steps prove the code runs; no checkpoint is read or written
        cfg = replace(cfg, steps=smoke_steps(cfg.steps), batch_size=min(cfg.batch_size, SMOKE_COUNT),
                      ckpt_path=None, ckpt_every=0, log_every=1)  # fmt: skip
    device = torch.device(device) if device is not None else default_device()
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    own_optimizer = optimizer is None  # cfg.lr, betas and weight_decay configure only this default AdamW
    if own_optimizer:
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    dtype = {"auto": amp_dtype(device), "bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[cfg.amp]
    # fp16 gradients underflow unless the loss is scaled up first; bf16 has fp32's range and needs no scaler
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    ema = EMA(model, cfg.ema_decay, warmup=cfg.ema_warmup) if cfg.ema_decay else None
    generator = torch.Generator().manual_seed(cfg.seed)  # the data's own RNG
    ckpt = Path(cfg.ckpt_path) if cfg.ckpt_path else None
    history, start = History(), 0
    if ckpt is not None and resume and ckpt.exists():
        meta = load_checkpoint(ckpt, model, ema=ema, optimizer=optimizer, scaler=scaler, generator=generator,
                               restore_rng=True)  # fmt: skip
        history, start = meta["history"], meta["step"]
        _warn_if_changed(ckpt, meta["config"], cfg)
        if cfg.steps < start:
            warnings.warn(f"{ckpt} is already at step {start}, past cfg.steps={cfg.steps}: nothing to "
                          f"train. To continue it, set cfg.steps above {start}; to start again, pass "
                          "resume=False or another cfg.ckpt_path", stacklevel=2)  # fmt: skip
        if own_optimizer:  # the config's values win over the saved ones, so a changed cfg.lr takes effect
            for group in optimizer.param_groups:
                group.update(lr=cfg.lr, initial_lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    else:
        # noise and t come from the global RNG; seed + 1 so they never replay the data generator's draws
        seed_everything(cfg.seed + 1)
    history.ema = ema.model if ema is not None else None
    if cfg.warmup:
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])  # warm-up scales this (after a resume: the saved one)

    pending = []  # (step, loss, grad norm, t, per-sample loss) on the device, fetched in one sync at each log
    wall_start, clock = history.wall_time, time.perf_counter()

    def flush() -> None:
        if pending:
            steps, losses, norms, ts, t_losses = zip(*pending)
            history.steps += steps
            history.losses += torch.stack(losses).tolist()
            history.grad_norms += torch.stack(norms).tolist()
            history.t += torch.cat(ts).tolist()
            history.t_losses += torch.cat(t_losses).tolist()
            for key in ("t", "t_losses"):  # keep memory bounded: only the most recent samples
                del getattr(history, key)[: max(0, len(getattr(history, key)) - cfg.keep_samples)]
            pending.clear()
            if not math.isfinite(history.losses[-1]):
                first = len(history.losses) - 1  # the step where the run of non-finite losses began
                while first > 0 and not math.isfinite(history.losses[first - 1]):
                    first -= 1
                causes = ("the data may hold NaN/inf or values far outside [-1, 1] (look at a batch), else "
                          "lower cfg.lr, keep cfg.grad_clip on, or try cfg.amp='off'")  # fmt: skip
                raise ValueError(
                    f"the loss became {history.losses[first]} at step {history.steps[first]}: {causes}"
                )
        history.wall_time = wall_start + time.perf_counter() - clock

    def save(rng=None) -> None:
        flush()
        save_checkpoint(ckpt, model, ema=ema, optimizer=optimizer, scaler=scaler, generator=generator,
                        step=done, history=history, config=cfg, rng=rng)  # fmt: skip

    bar = tqdm(total=cfg.steps, initial=start, desc="train", disable=not cfg.progress, dynamic_ncols=True)
    done, rng_before = start, None
    spent = cfg.time_limit is not None and wall_start >= cfg.time_limit  # a resumed run that had its time
    try:
        for step in range(start, start if spent else cfg.steps):
            # the RNGs before this step: a Ctrl-C halfway through saves these, so a resume redoes the step
            rng_before = rng_state(generator) if ckpt is not None else None
            if cfg.warmup:
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * min(1.0, (step + 1) / cfg.warmup)
            optimizer.zero_grad(set_to_none=True)
            step_loss, ts, t_losses = 0.0, [], []
            for _ in range(cfg.grad_accum):
                batch = _to_device(data(cfg.batch_size, generator), device)
                with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                    out = loss_fn(model, batch)  # (per-sample loss (B,), t (B,)), or just a loss
                loss, t = out if isinstance(out, tuple) else (out, None)
                scaler.scale(loss.mean() / cfg.grad_accum).backward()
                step_loss = step_loss + loss.detach().float().mean() / cfg.grad_accum
                if t is not None and loss.dim() == 1:
                    ts.append(t.detach().float().flatten())
                    t_losses.append(loss.detach().float())
            scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
            grad_norm = nn.utils.clip_grad_norm_(params, cfg.grad_clip or math.inf)
            with _interrupts_deferred():
                scaler.step(optimizer)  # skips the step if fp16 gradients overflowed
                scaler.update()
                if ema is not None:
                    ema.update(model)
                done, rng_before = step + 1, None
                empty = torch.zeros(0, device=device)
                pending.append((done, step_loss, grad_norm.float(), torch.cat(ts) if ts else empty,
                                torch.cat(t_losses) if t_losses else empty))  # fmt: skip
            bar.update(1)
            elapsed = wall_start + time.perf_counter() - clock  # with a resumed run's earlier time
            out_of_time = cfg.time_limit is not None and elapsed >= cfg.time_limit
            if done % cfg.log_every == 0 or done == cfg.steps or out_of_time:
                flush()
                bar.set_postfix(loss=f"{np.mean(history.losses[-cfg.log_every :]):.4f}")
                if live is not None:
                    live.update(history)
            if out_of_time:
                break
            if ckpt is not None and cfg.ckpt_every and done % cfg.ckpt_every == 0 and done < cfg.steps:
                save()
    except KeyboardInterrupt:
        if ckpt is not None:
            save(rng_before)
            print(f"interrupted after step {done}: saved {ckpt}; call train() again to resume")
        raise
    finally:
        bar.close()
        if live is not None:
            live.close()
    if ckpt is not None and done > start:
        save()
    flush()
    model.eval()
    return history
