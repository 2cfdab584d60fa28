"""Classifier-free guidance (Ho & Salimans 2022) and its interval (Kynkäänniemi et al. 2024): chapter 05.

A *condition* is what a denoiser reads besides (xt, t): one tensor (B, ...), or a dict of keyword tensors,
e.g. for the text UNet ``{"cond": pooled (B, D), "context": tokens (B, L, D), "context_mask": (B, L)}``.
"No condition" is that condition zeroed (``null_like``). Training swaps a random fraction of conditions
for it (``drop_condition``), so one network learns both v(xt, t | c) and v(xt, t | ∅); sampling then
extrapolates from the unconditional prediction through the conditional one (``guided``):

    out = out_uncond + scale * (out_cond - out_uncond)     scale 1: plain conditional; > 1: guided

x-, eps- and v-predictions are affine in one another at a fixed (xt, t), so guiding the raw output is
guiding the velocity. The guidance interval applies the scale only for t in [low, high] (elsewhere
scale 1, and one forward pass instead of two): Kynkäänniemi et al. found guidance harmful at the
highest noise levels and useless at the lowest. Their EDM noise level sigma maps to our time as
t = 1 / (1 + sigma), so their interval sigma in (0.28, 5.42] is t in [0.16, 0.78).
"""

from __future__ import annotations

import torch

from minidiff.flow import model_output


def _batch_size(cond) -> int:
    if isinstance(cond, torch.Tensor):
        return cond.shape[0]
    if isinstance(cond, dict) and cond and all(isinstance(v, torch.Tensor) for v in cond.values()):
        sizes = {value.shape[0] for value in cond.values()}
        if len(sizes) != 1:
            raise ValueError(f"the condition's tensors disagree on the batch size: {sorted(sizes)}")
        return sizes.pop()
    what = type(cond).__name__
    raise TypeError(f"a condition is a tensor or a dict of tensors (cond, context, context_mask), got {what}")


def null_like(cond):
    """ "No condition", shaped like ``cond``: zeros; a bool key mask keeps only its first (now zero) token."""
    _batch_size(cond)
    if isinstance(cond, torch.Tensor):
        return torch.zeros_like(cond)
    null = {}
    for key, value in cond.items():
        if value.dtype == torch.bool:  # attention needs one key to attend to: the first token, zeroed
            null[key] = torch.zeros_like(value)
            null[key][:, 0] = True
        else:
            null[key] = torch.zeros_like(value)
    return null


def _where(keep: torch.Tensor, cond, other):
    """Per sample: ``cond`` where ``keep`` (B,) is True, else ``other``."""
    if isinstance(cond, dict):
        return {key: _where(keep, cond[key], other[key]) for key in cond}
    return torch.where(keep.view(-1, *[1] * (cond.ndim - 1)), cond, other)  # keep broadcast over (B, ...)


def _cat(a, b):
    if isinstance(a, dict):
        return {key: torch.cat([a[key], b[key]]) for key in a}
    return torch.cat([a, b])


def drop_condition(cond, p: float, generator: torch.Generator | None = None):
    """Condition dropout: each sample's condition becomes ``null_like`` with probability ``p``."""
    if not 0 <= p <= 1:
        raise ValueError(f"p={p}: the dropout probability is in [0, 1] (0.1 is usual)")
    batch = _batch_size(cond)
    device = next(iter(cond.values())).device if isinstance(cond, dict) else cond.device
    drop = torch.rand(batch, generator=generator, device=generator.device if generator else device) < p
    return _where(~drop.to(device), cond, null_like(cond))


def guided(model, cond, scale: float, interval: tuple[float, float] = (0.0, 1.0)):
    """``model`` under classifier-free guidance, as a denoiser ``fn(xt, t)`` for ``flow.euler`` / ``heun``.

    Conditional and unconditional outputs come from one forward pass over a batch of 2B; outside
    ``interval`` (t in [low, high]) only the conditional half runs, at scale 1.
    """
    low, high = interval
    if not 0 <= low <= high <= 1:
        raise ValueError(f"interval={interval}: need 0 <= low <= high <= 1 (times, 0 = noise, 1 = data)")
    null = null_like(cond)

    def fn(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if _batch_size(cond) != xt.shape[0]:
            raise ValueError(f"the condition holds {_batch_size(cond)} samples but xt {xt.shape[0]}: "
                             "pass one condition per noise sample")  # fmt: skip
        inside = (t >= low) & (t <= high)  # (B,)
        if scale == 1 or not inside.any():
            return model_output(model, xt, t, cond)  # scale 1 everywhere: guidance costs nothing here
        out = model_output(model, torch.cat([xt, xt]), torch.cat([t, t]), _cat(cond, null))  # (2B, ...)
        out_cond, out_uncond = out.chunk(2)
        scales = torch.where(inside, scale, 1.0).to(out.dtype).view(-1, *[1] * (out.ndim - 1))  # (B, 1, ...)
        return out_uncond + scales * (out_cond - out_uncond)

    return fn
