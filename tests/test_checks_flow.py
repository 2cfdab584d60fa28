"""The flow checks pass on the reference (minidiff.flow) and fail, with a hint, on typical mistakes."""

from __future__ import annotations

import pytest
import torch

from minidiff import checks, flow


def reference_loss(model, x, t, noise):
    return flow.flow_loss(model, x, t=t, noise=noise)[0].mean()


def euler_backwards(model, noise, steps):
    xt = noise
    for i in range(steps):
        t = 1 - i / steps
        xt = xt - model(xt, torch.full((len(xt),), t)) / steps
    return xt


def euler_off_by_one(model, noise, steps):
    xt = noise
    for i in range(steps):
        xt = xt + model(xt, torch.full((len(xt),), (i + 1) / steps)) / steps
    return xt


def euler_scalar_t(model, noise, steps):
    xt = noise
    for i in range(steps):
        xt = xt + model(xt, torch.tensor(i / steps)) / steps
    return xt


def heun_full_last_step(model, noise, steps):
    xt, dt = noise, 1 / steps
    for i in range(steps):
        t, t_next = torch.full((len(xt),), i * dt), torch.full((len(xt),), (i + 1) * dt)
        v = model(xt, t)
        xt = xt + dt * (v + model(xt + dt * v, t_next)) / 2
    return xt


def heun_wrong_average(model, noise, steps):
    xt, dt = noise, 1 / steps
    for i in range(steps):
        t, t_next = torch.full((len(xt),), i * dt), torch.full((len(xt),), (i + 1) * dt)
        v = model(xt, t)
        xt = xt + dt * v if i == steps - 1 else xt + dt * model(xt + dt * v, t_next)  # slope at the end only
    return xt


def test_flow_checks_pass_on_the_reference(capsys):
    checks.check_time_convention(flow.interpolate)
    checks.check_interpolate(flow.interpolate)
    checks.check_velocity(flow.velocity)
    checks.check_flow_loss(reference_loss)
    checks.check_euler(flow.euler)
    checks.check_heun(flow.heun)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 14 and all(line.startswith("✓ ") for line in lines)


@pytest.mark.parametrize(
    "check, broken, hint",
    [
        (checks.check_time_convention, lambda x, noise, t: flow.interpolate(noise, x, t), "swap"),
        (checks.check_interpolate, lambda x, noise, t: flow.interpolate(noise, x, t), "swap"),
        (
            checks.check_interpolate,
            lambda x, noise, t: t[:, None] * x + (1 - t[:, None]) * noise,
            "(B, 1, 1, 1)",
        ),
        (checks.check_interpolate, lambda x, noise, t: flow.interpolate(x, noise, t**2), "t in (0, 1)"),
        (checks.check_velocity, lambda x, noise: noise - x, "wrong sign"),
        (checks.check_velocity, lambda x, noise: x, "v = x - noise"),
    ],
)
def test_path_checks_fail_on_mistakes(check, broken, hint):
    with pytest.raises(AssertionError, match=hint.replace("(", r"\(").replace(")", r"\)")):
        check(broken)


def _loss(xt_fn, target_fn, reduce=lambda loss: loss.mean()):
    return lambda model, x, t, noise: reduce((model(xt_fn(x, noise, t), t) - target_fn(x, noise)) ** 2)


@pytest.mark.parametrize(
    "broken, hint",
    [
        (_loss(lambda x, noise, t: flow.interpolate(noise, x, t), flow.velocity), "the model must see xt"),
        (_loss(flow.interpolate, lambda x, noise: noise - x), "wrong sign"),
        (_loss(flow.interpolate, lambda x, noise: x), "not x"),
        (_loss(flow.interpolate, flow.velocity, lambda loss: loss.flatten(1).mean(1)), "single number"),
        (_loss(flow.interpolate, flow.velocity, lambda loss: loss.sum()), "reference"),
        (_loss(flow.interpolate, flow.velocity, lambda loss: loss.mean().detach()), "gradient"),
    ],
)
def test_flow_loss_check_fails_on_mistakes(broken, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_flow_loss(broken)


@pytest.mark.parametrize(
    "check, broken, hint",
    [
        (checks.check_euler, euler_backwards, "starts from noise"),
        (checks.check_euler, euler_off_by_one, "off-by-one"),
        (checks.check_euler, euler_scalar_t, "shape"),
        (checks.check_euler, flow.heun, "NFE"),
        (checks.check_heun, heun_full_last_step, "plain Euler"),
        (checks.check_heun, flow.euler, "NFE"),
        (checks.check_heun, heun_wrong_average, "reference"),
        (
            checks.check_heun,
            lambda model, noise, steps: flow.heun(model, noise, steps, return_path=True),
            "shape",
        ),
    ],
)
def test_sampler_checks_fail_on_mistakes(check, broken, hint):
    with pytest.raises(AssertionError, match=hint):
        check(broken)
