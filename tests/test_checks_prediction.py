"""The chapter-08 checks pass on the reference (minidiff.flow) and fail, with a hint, on typical mistakes."""

from __future__ import annotations

import pytest
import torch

from minidiff import checks, flow


def _s(t, like):
    return t.reshape(-1, *[1] * (like.ndim - 1))


def reference_to_v(out, pred, xt, t, t_max=0.95):
    return flow.to_v(out, pred, xt, t, t_max)


def reference_v_loss(model, x, t, noise, pred):
    return flow.flow_loss(model, x, pred=pred, t=t, noise=noise)[0].mean()


def to_v_x_sign(out, pred, xt, t, t_max=0.95):
    return (
        (xt - out) / (1 - _s(t, xt)).clamp_min(1 - t_max) if pred == "x" else reference_to_v(out, pred, xt, t)
    )


def to_v_x_over_t(out, pred, xt, t, t_max=0.95):
    return (out - xt) / _s(t, xt).clamp_min(1 - t_max) if pred == "x" else reference_to_v(out, pred, xt, t)


def to_v_eps_sign(out, pred, xt, t, t_max=0.95):
    return (out - xt) / _s(t, xt).clamp_min(1 - t_max) if pred == "eps" else reference_to_v(out, pred, xt, t)


def to_v_eps_over_one_minus_t(out, pred, xt, t, t_max=0.95):
    if pred == "eps":
        return (xt - out) / (1 - _s(t, xt)).clamp_min(1 - t_max)
    return reference_to_v(out, pred, xt, t)


def to_v_no_clamp(out, pred, xt, t, t_max=0.95):
    s = _s(t, xt)
    return {"x": (out - xt) / (1 - s), "eps": (xt - out) / s, "v": out}[pred]


def to_v_fixed_clamp(out, pred, xt, t, t_max=0.95):
    return flow.to_v(out, pred, xt, t, 0.95)  # ignores the t_max it was handed


def to_v_flat_t(out, pred, xt, t, t_max=0.95):
    s = t[:, None]  # right for (B, D) points only
    return {
        "x": (out - xt) / (1 - s).clamp_min(1 - t_max),
        "eps": (xt - out) / s.clamp_min(1 - t_max),
        "v": out,
    }[pred]


def v_loss_raw(model, x, t, noise, pred):
    return flow.flow_loss(model, x, pred=pred, loss_space=pred, t=t, noise=noise)[0].mean()


def v_loss_detached(model, x, t, noise, pred):
    return reference_v_loss(model, x, t, noise, pred).detach()


def v_loss_wrong_xt(model, x, t, noise, pred):
    xt = flow.interpolate(noise, x, t)  # the time convention swapped
    v_pred = flow.to_v(model(xt, t), pred, xt, t, 0.95)
    return ((v_pred - (x - noise)) ** 2).mean()


def test_the_reference_passes(capsys):
    checks.check_to_v(reference_to_v)
    checks.check_v_loss(reference_v_loss)
    out = capsys.readouterr().out
    assert out.count("✓") == 8 and "pred='x': v = (x_pred - xt) / (1 - t)" in out


@pytest.mark.parametrize(
    ("broken", "hint"),
    [
        (to_v_x_sign, "wrong sign: v points from xt towards the clean image"),
        (to_v_x_over_t, "divide by the time left to run"),
        (to_v_eps_sign, "wrong sign: v points away from the noise"),
        (to_v_eps_over_one_minus_t, "divide by the time already run"),
        (to_v_no_clamp, "gave inf or nan: clamp 1 - t"),
        (to_v_fixed_clamp, "t_max=0.999"),
        (to_v_flat_t, "reshape t to (B, 1, 1, 1)"),
    ],
)
def test_check_to_v_names_the_mistake(broken, hint):
    with pytest.raises(AssertionError, match=hint.replace("(", r"\(").replace(")", r"\)")):
        checks.check_to_v(broken)


@pytest.mark.parametrize(
    ("broken", "hint"),
    [
        (v_loss_raw, "you compared the raw outputs"),
        (v_loss_detached, "the loss carries no gradient"),
        (v_loss_wrong_xt, "the model must see xt"),
    ],
)
def test_check_v_loss_names_the_mistake(broken, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_v_loss(broken)


def test_a_loss_on_the_implied_clean_image_fails():
    def x_loss_always(model, x, t, noise, pred):  # compares x implied by the output, whatever pred is
        xt = flow.interpolate(x, noise, t)
        v_pred = flow.to_v(model(xt, t), pred, xt, t, 0.95)
        return ((flow.x_from_v(xt, v_pred, t) - x) ** 2).mean()

    with pytest.raises(AssertionError, match="pred='x'"):
        checks.check_v_loss(x_loss_always)


def test_a_flat_t_is_caught_on_images_not_on_points():
    out, xt, t = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0.1, 0.35, 0.6, 0.85])
    assert torch.allclose(to_v_flat_t(out, "x", xt, t), flow.to_v(out, "x", xt, t, 0.95))
