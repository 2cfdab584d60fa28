"""Flow matching as small pure functions: time sampling, interpolation, targets, loss and samplers.

Time convention (the whole course uses it): t = 0 is noise, t = 1 is data,
``xt = t * x + (1 - t) * noise`` and the velocity ``v = d xt / dt = x - noise``; sampling integrates
``d xt / dt = v`` from t = 0 (noise) to t = 1 (data). t is a float tensor of shape (B,) in [0, 1].

Flow matching: Lipman et al. 2023, "Flow Matching for Generative Modeling"; the straight path is
rectified flow: Liu et al. 2023, "Flow Straight and Fast". A model may predict x, eps (the noise) or v;
every prediction converts to a velocity (``to_v``) so one loss and one sampler serve all three.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from minidiff.settings import smoke_steps

PREDS = ("x", "eps", "v")

# x-pred divides by 1 - t and eps-pred by t: both are clamped away from 0 so the implied velocity stays
# finite. A sampling grid never comes closer to t = 1 than 1/steps, so a tiny margin suffices there;
# in training the x-pred v-loss weighs errors by 1/(1-t)^2, and JiT (Li & He 2025) clamps 1 - t at 0.05.
SAMPLE_T_MAX = 0.999
LOSS_T_MAX = 0.95


# ---- helpers -------------------------------------------------------------------------------------


def _check_pred(pred: str) -> None:
    if pred not in PREDS:
        raise ValueError(f"pred={pred!r} is not a parametrisation: use one of {', '.join(PREDS)}")


def _steps(steps, return_path: bool) -> int:
    """The steps a sampler takes: ``steps`` checked, at most 2 in smoke mode unless the whole path is asked
    for (callers index a path by step, so it keeps its length)."""
    if not hasattr(steps, "__index__") or steps < 1:  # any int (numpy's too), but not 2.5
        raise ValueError(f"steps={steps!r}: a sampler needs an int number of steps >= 1 (with 0 it would "
                         "return the noise itself as if it were a sample)")  # fmt: skip
    return steps if return_path else smoke_steps(steps)


def _expand(t, like: torch.Tensor) -> torch.Tensor:
    """A float, a 0-d tensor or t of shape (B,) as a tensor that broadcasts against ``like`` (B, ...)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, *[1] * (like.ndim - 1)) if t.ndim == 1 else t


def _generated(kind: str, shape, generator, device) -> torch.Tensor:
    """torch.rand / torch.randn drawn where the generator lives (torch needs that), moved to ``device``."""
    draw = torch.rand if kind == "rand" else torch.randn
    where = generator.device if generator is not None else device
    return draw(shape, generator=generator, device=where).to(device)


# ---- time, path and targets ----------------------------------------------------------------------


def sample_t(
    n: int, dist: str = "uniform", *, mean=0.0, std=1.0, generator=None, device=None
) -> torch.Tensor:
    """Training times t of shape (n,): ``uniform`` on [0, 1) or ``logit_normal`` = sigmoid(N(mean, std^2)).

    Logit-normal t (Esser et al. 2024, SD3) spends more steps at mid t; JiT uses mean=-0.8, std=0.8,
    which in this convention leans towards noise (t < 0.5).
    """
    if dist == "uniform":
        return _generated("rand", (n,), generator, device)
    if dist == "logit_normal":
        return torch.sigmoid(mean + std * _generated("randn", (n,), generator, device))
    raise ValueError(f"t distribution {dist!r} unknown: use 'uniform' or 'logit_normal'")


def interpolate(x: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
    """The point on the straight path at time t: ``xt = t * x + (1 - t) * noise`` (t=0 noise, t=1 data)."""
    t = _expand(t, x)
    return t * x + (1 - t) * noise


def velocity(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity of the straight path, d xt / dt = x - noise (the same at every t)."""
    return x - noise


def target(pred: str, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """What a model in parametrisation ``pred`` ("x", "eps" or "v") should output."""
    _check_pred(pred)
    return {"x": x, "eps": noise, "v": x - noise}[pred]


# ---- conversions between x, eps and v (from xt = x - (1 - t) v = noise + t v) ----------------------


def x_from_v(xt: torch.Tensor, v: torch.Tensor, t) -> torch.Tensor:
    """The clean x implied by velocity v at (xt, t)."""
    return xt + (1 - _expand(t, xt)) * v


def noise_from_v(xt: torch.Tensor, v: torch.Tensor, t) -> torch.Tensor:
    """The noise implied by velocity v at (xt, t)."""
    return xt - _expand(t, xt) * v


def v_from_x(xt: torch.Tensor, x_pred: torch.Tensor, t, t_max: float = SAMPLE_T_MAX) -> torch.Tensor:
    """The velocity implied by a clean-image prediction: (x_pred - xt) / (1 - t), 1 - t >= 1 - t_max."""
    return (x_pred - xt) / (1 - _expand(t, xt)).clamp_min(1 - t_max)


def v_from_noise(xt: torch.Tensor, noise_pred: torch.Tensor, t, t_max: float = SAMPLE_T_MAX) -> torch.Tensor:
    """The velocity implied by a noise prediction: (xt - noise_pred) / t, with t >= 1 - t_max."""
    # at t = 0 the model sees pure noise, so eps-pred carries no information about x there: the clamp
    # keeps v finite but the first sampling step is (nearly) wasted, one reason the course prefers v or x
    return (xt - noise_pred) / _expand(t, xt).clamp_min(1 - t_max)


def to_v(
    pred_value: torch.Tensor, pred: str, xt: torch.Tensor, t, t_max: float = SAMPLE_T_MAX
) -> torch.Tensor:
    """Convert a model output in parametrisation ``pred`` into the velocity it implies at (xt, t)."""
    _check_pred(pred)
    if pred == "x":
        return v_from_x(xt, pred_value, t, t_max)
    if pred == "eps":
        return v_from_noise(xt, pred_value, t, t_max)
    return pred_value


# ---- loss ----------------------------------------------------------------------------------------


def model_output(model, xt: torch.Tensor, t: torch.Tensor, cond=None) -> torch.Tensor:
    """``cond`` is None, one tensor (passed third) or a dict of keyword tensors (cond, context, ...)."""
    if cond is None:
        return model(xt, t)
    return model(xt, t, **cond) if isinstance(cond, dict) else model(xt, t, cond)


def flow_loss(
    model,
    x: torch.Tensor,
    *,
    cond=None,
    pred: str = "v",
    loss_space: str = "v",
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    t_dist: str = "uniform",
    generator: torch.Generator | None = None,
    t_max: float = LOSS_T_MAX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow-matching loss: per-sample mean squared error (B,) and the t (B,) it used; take ``.mean()``.

    ``loss_space="v"`` compares the implied velocities (for pred="x" this is JiT's recipe, Li & He 2025:
    predict the clean image, learn with the v-loss); ``loss_space=pred`` compares the raw outputs.
    """
    _check_pred(pred)
    if loss_space not in ("v", pred):
        raise ValueError(f"loss_space={loss_space!r} with pred={pred!r}: use loss_space='v' or '{pred}'")
    if t is None:
        t = sample_t(x.shape[0], t_dist, generator=generator, device=x.device)
    if noise is None:
        noise = _generated("randn", x.shape, generator, x.device).to(x.dtype)
    xt = interpolate(x, noise, t)
    out = model_output(model, xt, t, cond)
    want = target(pred, x, noise)
    if loss_space == "v":  # the target goes through the same clamp, so an exact prediction scores 0
        out, want = to_v(out, pred, xt, t, t_max), to_v(want, pred, xt, t, t_max)
    loss = ((out.float() - want.float()) ** 2).flatten(1).mean(1)  # (B,), in fp32 even under autocast
    return loss, t


# ---- samplers ------------------------------------------------------------------------------------


def _v(model, xt: torch.Tensor, t: torch.Tensor, cond, pred: str) -> torch.Tensor:
    """The model's velocity at scalar time t, called with t of shape (B,) as every denoiser expects."""
    t = torch.full((xt.shape[0],), float(t), dtype=xt.dtype, device=xt.device)
    return to_v(model_output(model, xt, t, cond), pred, xt, t)


@torch.no_grad()
def euler(model, noise, steps: int, *, cond=None, pred="v", return_path=False, progress=False):
    """Euler from t=0 (noise) to t=1 (data) in ``steps`` equal steps (NFE = steps).

    Returns the samples, or with ``return_path`` every intermediate xt as a tensor (steps + 1, B, ...).
    """
    _check_pred(pred)
    steps = _steps(steps, return_path)
    ts = torch.linspace(0, 1, steps + 1).tolist()
    xt, path = noise, [noise]
    for i in tqdm(range(steps), desc="euler", disable=not progress):
        xt = xt + (ts[i + 1] - ts[i]) * _v(model, xt, ts[i], cond, pred)
        path.append(xt)
    return torch.stack(path) if return_path else xt


@torch.no_grad()
def heun(model, noise, steps: int, *, cond=None, pred="v", return_path=False, progress=False):
    """Heun (2nd order, trapezoid rule): average the slopes at t and t + dt (NFE = 2 * steps - 1).

    The last step is plain Euler, as in EDM (Karras et al. 2022): for x-pred the slope at t = 1 is 0/0.
    Returns the samples, or with ``return_path`` every intermediate xt as a tensor (steps + 1, B, ...).
    """
    _check_pred(pred)
    steps = _steps(steps, return_path)
    ts = torch.linspace(0, 1, steps + 1).tolist()
    xt, path = noise, [noise]
    for i in tqdm(range(steps), desc="heun", disable=not progress):
        dt = ts[i + 1] - ts[i]
        v = _v(model, xt, ts[i], cond, pred)
        x_euler = xt + dt * v
        if i == steps - 1:
            xt = x_euler
        else:
            xt = xt + dt * (v + _v(model, x_euler, ts[i + 1], cond, pred)) / 2
        path.append(xt)
    return torch.stack(path) if return_path else xt
