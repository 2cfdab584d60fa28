"""Checks for chapter 08 (x-prediction): the velocity each parametrisation implies; the loss in v space."""

from __future__ import annotations

import torch

from minidiff import flow
from minidiff.checks.core import assert_close, close, learner_code, passed
from minidiff.checks.flow import _flow_tensors, _TinyVelocity


def _outputs(shape=(4, 3)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A model output, an xt and t (B,) for the conversion checks."""
    generator = torch.Generator().manual_seed(2)
    out, xt = torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)
    return out, xt, torch.tensor([0.1, 0.35, 0.6, 0.85])[: shape[0]]


@learner_code
def check_to_v(fn) -> None:
    """``fn(out, pred, xt, t, t_max=0.95) -> v``: the velocity an x-, eps- or v-output implies at (xt, t)."""
    out, xt, t = _outputs()
    s = t[:, None]
    assert_close(fn(out, "v", xt, t), out, "pred='v': the output is already the velocity")
    passed("pred='v' returns the output itself")
    got = fn(out, "x", xt, t)
    for wrong, hint in (
        (
            (xt - out) / (1 - s),
            "wrong sign: v points from xt towards the clean image, (x_pred - xt) / (1 - t)",
        ),
        ((out - xt) / s, "divide by the time left to run, 1 - t (xt = x - (1 - t) v), not by t"),
    ):
        if close(got, wrong):
            raise AssertionError(hint)
    assert_close(got, flow.to_v(out, "x", xt, t), "pred='x': v = (x_pred - xt) / (1 - t)")
    passed("pred='x': v = (x_pred - xt) / (1 - t)")
    got = fn(out, "eps", xt, t)
    for wrong, hint in (
        ((out - xt) / s, "wrong sign: v points away from the noise, (xt - noise_pred) / t"),
        ((xt - out) / (1 - s), "divide by the time already run, t (xt = noise + t v), not by 1 - t"),
    ):
        if close(got, wrong):
            raise AssertionError(hint)
    assert_close(got, flow.to_v(out, "eps", xt, t), "pred='eps': v = (xt - noise_pred) / t")
    passed("pred='eps': v = (xt - noise_pred) / t")
    ends = torch.tensor([0.0, 0.5, 1.0, 1.0])
    for pred, where in (("x", "1 - t"), ("eps", "t")):
        for t_max in (0.95, 0.999):
            got = fn(out, pred, xt, ends, t_max=t_max)
            if not torch.isfinite(got).all():
                raise AssertionError(f"pred='{pred}' at t = 0 or 1 gave inf or nan: clamp {where} to at "
                                     "least 1 - t_max before dividing")  # fmt: skip
            assert_close(got, flow.to_v(out, pred, xt, ends, t_max), f"pred='{pred}' at t = 0 and 1 "
                         f"(t_max={t_max}): {where} clamped to at least 1 - t_max")  # fmt: skip
    passed("finite at t = 0 and t = 1: 1 - t and t are clamped to at least 1 - t_max")
    images, image_xt, _ = _outputs((4, 2, 3, 3))  # B C H W
    try:
        got = fn(images, "x", image_xt, t)
    except RuntimeError as error:
        raise AssertionError(f"images (B, C, H, W) failed ({error}): reshape t to (B, 1, 1, 1)") from error
    assert_close(got, flow.to_v(images, "x", image_xt, t), "pred='x' for images (B, C, H, W)")
    passed("t of shape (B,) broadcasts over images (B, C, H, W)")


@learner_code
def check_v_loss(fn) -> None:
    """``fn(model, x, t, noise, pred) -> loss``: mean((v implied by model(xt, t) - (x - noise)) ** 2)."""
    x, noise, t = _flow_tensors()
    for pred in flow.PREDS:
        model = _TinyVelocity()
        loss = fn(model, x, t, noise, pred)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise AssertionError(
                "the loss must be a single number (a 0-d tensor): take .mean() over the batch"
            )
        if model.seen_xt is None or not close(model.seen_xt, flow.interpolate(x, noise, t)):
            raise AssertionError(
                "the model must see xt = t * x + (1 - t) * noise (t = 0 is noise, t = 1 data)"
            )
        raw, _ = flow.flow_loss(model, x, pred=pred, loss_space=pred, t=t, noise=noise)
        if pred != "v" and torch.allclose(loss.detach(), raw.mean().detach(), atol=1e-6):
            raise AssertionError(
                f"pred='{pred}': you compared the raw outputs with their target; convert the output to the "
                "velocity it implies (my_to_v) and compare with v = x - noise"
            )
        want, _ = flow.flow_loss(model, x, pred=pred, t=t, noise=noise)
        assert_close(loss.detach(), want.mean().detach(), f"pred='{pred}': the loss in v space")
        if not loss.requires_grad:
            raise AssertionError("the loss carries no gradient: do not detach it or call .item() inside")
        passed(f"pred='{pred}': equals the reference's loss in v space, and gradients reach the model")
