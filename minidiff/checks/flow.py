"""Checks for chapter 01 (flow matching): time convention, path, velocity, loss and samplers."""

from __future__ import annotations

import torch

from minidiff import flow
from minidiff.checks.core import assert_close, close, learner_code, passed
from minidiff.settings import smoke_off


def _flow_tensors(shape=(4, 3)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fixed x, noise and t (B,) for the flow checks; t avoids 0 and 1 so every term matters."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator) + 2  # data away from 0, so x and noise are easy to tell apart
    noise = torch.randn(shape, generator=generator)
    t = torch.tensor([0.1, 0.35, 0.6, 0.85])[: shape[0]]
    return x, noise, t


@learner_code
def check_time_convention(fn) -> None:
    """``fn(x, noise, t) -> xt`` must give noise at t = 0 and the data at t = 1."""
    x, noise, _ = _flow_tensors()
    at_zero, at_one = fn(x, noise, torch.zeros(4)), fn(x, noise, torch.ones(4))
    if close(at_zero, x) and close(at_one, noise):
        raise AssertionError(
            "did you swap x and noise? t=0 must be noise and t=1 data: xt = t*x + (1-t)*noise"
        )
    assert_close(at_zero, noise, "t = 0 must give the noise")
    passed("t = 0 gives the noise")
    assert_close(at_one, x, "t = 1 must give the data")
    passed("t = 1 gives the data")


@learner_code
def check_interpolate(fn) -> None:
    """``fn(x, noise, t) -> xt = t * x + (1 - t) * noise`` with t of shape (B,) broadcast over the rest."""
    check_time_convention(fn)
    x, noise, t = _flow_tensors()
    assert_close(fn(x, noise, t), flow.interpolate(x, noise, t), "xt at t in (0, 1) (shape (4, 3))")
    passed("xt = t * x + (1 - t) * noise in between")
    images, image_noise, _ = _flow_tensors((4, 2, 3, 3))  # B C H W
    try:
        got = fn(images, image_noise, t)
    except RuntimeError as error:
        raise AssertionError(f"images (B, C, H, W) failed ({error}): reshape t to (B, 1, 1, 1)") from error
    assert_close(got, flow.interpolate(images, image_noise, t), "xt for images (B, C, H, W)")
    passed("t of shape (B,) broadcasts over images (B, C, H, W)")


@learner_code
def check_velocity(fn) -> None:
    """``fn(x, noise) -> v``: the velocity of the straight path, d xt / dt = x - noise."""
    x, noise, t = _flow_tensors()
    got = fn(x, noise)
    if close(got, noise - x):
        raise AssertionError("wrong sign: v points from noise (t=0) to data (t=1), so v = x - noise")
    assert_close(got, flow.velocity(x, noise), "v = x - noise")
    passed("v = x - noise")
    step = 1e-2  # the path is straight, so a finite difference of xt is exact up to rounding
    slope = (flow.interpolate(x, noise, t + step) - flow.interpolate(x, noise, t)) / step
    assert_close(got, slope, "v must be the time derivative of xt", atol=1e-3)
    passed("v is the time derivative of xt")


class _TinyVelocity(torch.nn.Module):
    """A small trainable velocity model for checking losses (it depends on both xt and t)."""

    def __init__(self, dim: int = 3) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(dim + 1, dim)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(1))
        self.seen_xt = None

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.shape != (xt.shape[0],):
            raise AssertionError("call model(xt, t) with t a tensor of shape (B,)")
        self.seen_xt = xt.detach().clone()
        return self.linear(torch.cat([xt, t[:, None]], 1))


@learner_code
def check_flow_loss(fn) -> None:
    """``fn(model, x, t, noise) -> loss``: the mean over the batch of mean((model(xt, t) - v) ** 2)."""
    x, noise, t = _flow_tensors()
    model = _TinyVelocity()
    loss = fn(model, x, t, noise)
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise AssertionError("the loss must be a single number (a 0-d tensor): take .mean() over the batch")
    passed("returns a scalar tensor")
    if model.seen_xt is None or not close(model.seen_xt, flow.interpolate(x, noise, t)):
        raise AssertionError("the model must see xt = t * x + (1 - t) * noise (t = 0 is noise, t = 1 data)")
    passed("the model sees xt = t * x + (1 - t) * noise")
    with torch.no_grad():
        v_pred = model(flow.interpolate(x, noise, t), t)
    for wrong, hint in (
        (noise - x, "wrong sign: the target is v = x - noise"),
        (x, "the target is v, not x"),
    ):
        if torch.allclose(loss.detach(), ((v_pred - wrong) ** 2).mean(), atol=1e-6):
            raise AssertionError(hint)
    want, _ = flow.flow_loss(model, x, t=t, noise=noise)
    assert_close(loss.detach(), want.mean().detach(), "the v-loss mean((model(xt, t) - (x - noise)) ** 2)")
    passed("equals the flow-matching loss of the reference")
    if not loss.requires_grad:
        raise AssertionError("the loss carries no gradient: do not detach it or call .item() inside")
    passed("gradients reach the model")


class _RecordingField:
    """A t-dependent toy velocity field that records the times it is called at (for precise hints)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.shape != (xt.shape[0],):
            raise AssertionError("call model(xt, t) with t a tensor of shape (B,), e.g. torch.full((B,), t)")
        self.times.append(round(float(t[0]), 6))
        t = t[:, None]
        return (1 + t) * (0.5 - xt) + torch.sin(4 * t)


def _check_sampler(fn, name: str, steps: int = 4) -> None:
    """Shared by check_euler and check_heun: the times the model is called at, then the samples."""
    noise = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    field, reference_field = _RecordingField(), _RecordingField()
    got = fn(field, noise.clone(), steps)  # a clone: an in-place update must not change the reference's noise
    with smoke_off():  # the reference takes every step asked for, also under make smoke
        reference = getattr(flow, name)(reference_field, noise, steps)
    times, want_times = field.times, reference_field.times
    if times and times[0] == 1.0:
        raise AssertionError("sampling starts from noise at t = 0 and moves towards the data at t = 1")
    if name == "heun" and len(times) == 2 * steps:
        raise AssertionError("make the last step a plain Euler step (at t = 1 the x-pred slope is 0/0)")
    if times != want_times:
        raise AssertionError(
            f"{name} should call the model at t = {want_times} (NFE = {len(want_times)}), got t = {times}: "
            "an off-by-one in the time grid? t_i = i / steps, from t_0 = 0 to t_steps = 1"
        )
    passed(f"calls the model {len(times)} times, at t = {', '.join(f'{time:g}' for time in times)}")
    step = "xt + dt * v" if name == "euler" else "xt + dt * (v + v_next) / 2, v_next at the Euler guess"
    assert_close(got, reference, f"{name} samples after {steps} steps (a step is {step})")
    passed(f"{name} samples match the reference")


@learner_code
def check_euler(fn) -> None:
    """``fn(model, noise, steps) -> x``: Euler from t = 0 (noise) to t = 1 in equal steps."""
    _check_sampler(fn, "euler")


@learner_code
def check_heun(fn) -> None:
    """``fn(model, noise, steps) -> x``: Heun (trapezoid), the last step plain Euler."""
    _check_sampler(fn, "heun")
