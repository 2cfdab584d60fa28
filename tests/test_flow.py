"""minidiff.flow: the time convention, conversions, the loss, and samplers on an exactly solvable flow."""

from __future__ import annotations

import pytest
import torch

from minidiff import flow


def _tensors(shape=(6, 3), seed=0):
    generator = torch.Generator().manual_seed(seed)
    x, noise = torch.randn(shape, generator=generator) + 1, torch.randn(shape, generator=generator)
    t = 0.05 + 0.9 * torch.rand(shape[0], generator=generator)  # away from the clamped ends
    return x, noise, t


# ---- time convention, targets, conversions ----------------------------------------------------------


def test_time_convention_t0_is_noise_t1_is_data():
    x, noise, _ = _tensors((4, 2, 3, 3))
    torch.testing.assert_close(flow.interpolate(x, noise, torch.zeros(4)), noise)
    torch.testing.assert_close(flow.interpolate(x, noise, torch.ones(4)), x)
    torch.testing.assert_close(flow.interpolate(x, noise, 0.25), 0.25 * x + 0.75 * noise)  # a float t works
    # v is d xt / dt, so integrating it from t = 0 (noise) to t = 1 reaches the data
    torch.testing.assert_close(
        flow.velocity(x, noise), flow.interpolate(x, noise, 1.0) - flow.interpolate(x, noise, 0.0)
    )


def test_targets():
    x, noise, _ = _tensors()
    torch.testing.assert_close(flow.target("x", x, noise), x)
    torch.testing.assert_close(flow.target("eps", x, noise), noise)
    torch.testing.assert_close(flow.target("v", x, noise), x - noise)
    with pytest.raises(ValueError, match="x, eps, v"):
        flow.target("epsilon", x, noise)


def test_conversions_round_trip():
    x, noise, t = _tensors((6, 2, 4, 4))
    xt, v = flow.interpolate(x, noise, t), flow.velocity(x, noise)
    torch.testing.assert_close(flow.x_from_v(xt, v, t), x)
    torch.testing.assert_close(flow.noise_from_v(xt, v, t), noise)
    torch.testing.assert_close(flow.v_from_x(xt, x, t), v, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(flow.v_from_noise(xt, noise, t), v, atol=1e-5, rtol=1e-4)
    for pred in flow.PREDS:  # every parametrisation's exact target implies the same velocity
        torch.testing.assert_close(
            flow.to_v(flow.target(pred, x, noise), pred, xt, t), v, atol=1e-5, rtol=1e-4
        )
    # random v -> x -> v and v -> eps -> v
    v_any = torch.randn_like(v)
    torch.testing.assert_close(flow.v_from_x(xt, flow.x_from_v(xt, v_any, t), t), v_any, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        flow.v_from_noise(xt, flow.noise_from_v(xt, v_any, t), t), v_any, atol=1e-5, rtol=1e-4
    )


def test_conversions_stay_finite_at_the_ends():
    x, noise, _ = _tensors()
    ends = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    xt = flow.interpolate(x, noise, ends)
    assert torch.isfinite(flow.to_v(x, "x", xt, ends)).all()
    assert torch.isfinite(flow.to_v(noise, "eps", xt, ends)).all()


# ---- sample_t --------------------------------------------------------------------------------------


def test_sample_t_ranges_and_distributions():
    uniform = flow.sample_t(20_000, generator=torch.Generator().manual_seed(0))
    assert uniform.shape == (20_000,) and uniform.dtype == torch.float32
    assert 0 <= uniform.min() and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.01
    logit = flow.sample_t(20_000, "logit_normal", generator=torch.Generator().manual_seed(0))
    assert 0 < logit.min() and logit.max() < 1 and abs(logit.median() - 0.5) < 0.02
    assert (
        (logit > 0.25) & (logit < 0.75)
    ).float().mean() > 0.6  # more mass in the middle than uniform's 0.5
    jit = flow.sample_t(
        20_000, "logit_normal", mean=-0.8, std=0.8, generator=torch.Generator().manual_seed(0)
    )
    assert abs(jit.median() - torch.sigmoid(torch.tensor(-0.8))) < 0.02  # leans towards noise (t < 0.5)
    again = flow.sample_t(20_000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(uniform, again)
    with pytest.raises(ValueError, match="logit_normal"):
        flow.sample_t(4, "normal")


# ---- flow_loss -------------------------------------------------------------------------------------


def test_flow_loss_is_zero_for_the_exact_velocity_of_a_point_mass():
    x0 = torch.tensor([1.5, -0.5, 2.0])
    x = x0.expand(8, 3)
    exact = {  # all data is x0, so xt determines the noise and the velocity exactly
        "v": lambda xt, t: (x0 - xt) / (1 - t[:, None]),
        "x": lambda xt, t: x0.expand_as(xt),
        "eps": lambda xt, t: (xt - t[:, None] * x0) / (1 - t[:, None]),
    }
    generator = torch.Generator().manual_seed(0)
    for pred, model in exact.items():
        for loss_space in ("v", pred):
            loss, t = flow.flow_loss(model, x, pred=pred, loss_space=loss_space, generator=generator)
            assert loss.shape == (8,) and t.shape == (8,)
            assert loss.max() < 1e-6, (pred, loss_space)
            off = lambda xt, t, model=model: model(xt, t) + 0.1
            assert (flow.flow_loss(off, x, pred=pred, loss_space=loss_space, t=t)[0] > 1e-4).all()


def test_flow_loss_uses_given_t_noise_and_cond():
    x, noise, t = _tensors()
    seen = {}

    def model(xt, t_in, cond=None):
        seen.update(xt=xt, t=t_in, cond=cond)
        return torch.zeros_like(xt)

    loss, t_out = flow.flow_loss(model, x, t=t, noise=noise, cond="label")
    assert seen["cond"] == "label" and torch.equal(t_out, t) and seen["t"].shape == (6,)
    torch.testing.assert_close(seen["xt"], flow.interpolate(x, noise, t))
    torch.testing.assert_close(loss, ((x - noise) ** 2).mean(1))
    with pytest.raises(ValueError, match="loss_space"):
        flow.flow_loss(model, x, pred="x", loss_space="eps")


def test_x_pred_v_loss_is_x_loss_weighted_by_one_over_one_minus_t_squared():
    x, noise, t = _tensors()
    model = lambda xt, t: 0.5 * xt  # any x-prediction
    v_loss, _ = flow.flow_loss(model, x, pred="x", loss_space="v", t=t, noise=noise)
    x_loss, _ = flow.flow_loss(model, x, pred="x", loss_space="x", t=t, noise=noise)
    torch.testing.assert_close(v_loss, x_loss / (1 - t) ** 2)


# ---- samplers on Gaussian -> Gaussian, where the exact velocity is known ------------------------------

MU, STD = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.5])


def exact_v(xt, t):
    """E[v | xt] for noise N(0, 1) and data N(MU, STD^2) per dimension (both Gaussian, so it is affine in xt).

    xt is Gaussian with mean t*MU and variance t^2 STD^2 + (1-t)^2, Cov(v, xt) = t STD^2 - (1-t), so the
    regression of v on xt gives E[v | xt] = MU + (t STD^2 - (1-t)) / (t^2 STD^2 + (1-t)^2) * (xt - t MU).
    """
    t = t[:, None]
    return MU + (t * STD**2 - (1 - t)) / (t**2 * STD**2 + (1 - t) ** 2) * (xt - t * MU)


def exact_x(xt, t):
    return flow.x_from_v(xt, exact_v(xt, t), t)


def exact_eps(xt, t):
    return flow.noise_from_v(xt, exact_v(xt, t), t)


def _noise(n=512):
    # the sampler is an affine map here, so exactly standardised noise makes the sample mean and std equal
    # the mean and std of the sampler's output distribution: no Monte-Carlo error in the tolerances below
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    return (noise - noise.mean(0)) / noise.std(0)


def _error(samples):
    return max((samples.mean(0) - MU).abs().max().item(), (samples.std(0) - STD).abs().max().item())


def test_exact_velocity_matches_a_monte_carlo_regression():
    generator = torch.Generator().manual_seed(1)
    x, noise = (
        MU + STD * torch.randn(100_000, 2, generator=generator),
        torch.randn(100_000, 2, generator=generator),
    )
    t = torch.full((100_000,), 0.3)
    xt, v = flow.interpolate(x, noise, t), flow.velocity(x, noise)
    residual = v - exact_v(
        xt, t
    )  # E[v | xt] is the least-squares fit: residual has mean 0, uncorrelated with xt
    assert residual.mean(0).abs().max() < 0.02
    assert ((residual - residual.mean(0)) * (xt - xt.mean(0))).mean(0).abs().max() < 0.02


def test_samplers_reproduce_the_data_distribution():
    noise = _noise()
    assert _error(flow.euler(exact_v, noise, 256)) < 0.01
    assert _error(flow.heun(exact_v, noise, 64)) < 5e-4
    assert (flow.euler(exact_v, noise, 64).mean(0) - MU).abs().max() < 1e-4  # the mean path is exact


def _affine(t):
    """exact_v(xt, t) = a * xt + b per dimension: read a and b off the field at xt = 0 and xt = 1."""
    t = torch.tensor([float(t)])
    b = exact_v(torch.zeros(1, 2), t)[0]
    return exact_v(torch.ones(1, 2), t)[0] - b, b


def test_samplers_follow_their_step_rule_on_the_moments():
    # on an affine field a step maps the Gaussian (mean m, std s) to another one, so the sample moments must
    # follow the step rule written on (m, s) with the grid t_i = i / steps: this pins the grid exactly
    # (an off-by-one in t is still a convergent method, so the tests above alone would not catch it)
    steps, dt = 4, 1 / 4
    m, s = torch.zeros(2), torch.ones(2)
    m_heun, s_heun = m, s
    for i in range(steps):
        (a, b), (a_next, b_next) = _affine(i * dt), _affine((i + 1) * dt)
        m, s = m + dt * (a * m + b), s + dt * a * s
        m_guess, s_guess = m_heun + dt * (a * m_heun + b), s_heun + dt * a * s_heun
        if i == steps - 1:  # Heun's last step is plain Euler
            m_heun, s_heun = m_guess, s_guess
        else:
            m_heun = m_heun + dt * (a * m_heun + b + a_next * m_guess + b_next) / 2
            s_heun = s_heun + dt * (a * s_heun + a_next * s_guess) / 2
    euler, heun = flow.euler(exact_v, _noise(), steps), flow.heun(exact_v, _noise(), steps)
    torch.testing.assert_close((euler.mean(0), euler.std(0)), (m, s), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close((heun.mean(0), heun.std(0)), (m_heun, s_heun), atol=1e-5, rtol=1e-5)


def test_convergence_orders_euler_first_heun_second():
    noise = _noise()
    euler = [_error(flow.euler(exact_v, noise, steps)) for steps in (8, 16, 32)]
    heun = [_error(flow.heun(exact_v, noise, steps)) for steps in (8, 16, 32)]
    assert heun[0] < euler[0] / 10  # Heun at 8 steps beats Euler at 8 steps by far
    for coarse, fine in zip(euler, euler[1:]):
        assert 1.8 < coarse / fine < 2.2  # halving dt halves Euler's error
    for coarse, fine in zip(heun, heun[1:]):
        assert 3.5 < coarse / fine < 4.6  # and quarters Heun's


def test_x_and_eps_prediction_sample_the_same_distribution():
    noise = _noise()
    for sampler in (flow.euler, flow.heun):
        with_v = sampler(exact_v, noise, 32)
        torch.testing.assert_close(sampler(exact_x, noise, 32, pred="x"), with_v, atol=1e-4, rtol=1e-4)
    # eps-pred sees pure noise at t = 0 and cannot tell the velocity there: it loses the first step,
    # an O(1/steps) error that shrinks with more steps
    eps_errors = [_error(flow.heun(exact_eps, noise, steps, pred="eps")) for steps in (32, 128)]
    assert eps_errors[1] < 0.01 and eps_errors[1] < eps_errors[0] / 3


def test_sampler_path_nfe_time_shape_and_cond():
    noise, calls = _noise(4), []

    def model(xt, t, cond=None):
        calls.append((t.shape, cond))
        return exact_v(xt, t)

    path = flow.heun(model, noise, 5, return_path=True, cond="label", progress=True)
    assert path.shape == (6, 4, 2) and torch.equal(path[0], noise)
    torch.testing.assert_close(path[-1], flow.heun(exact_v, noise, 5))
    assert calls == [((4,), "label")] * (2 * 5 - 1)  # NFE = 2 * steps - 1
    calls.clear()
    assert flow.euler(model, noise, 5, return_path=True).shape == (6, 4, 2) and len(calls) == 5
    assert calls[0] == ((4,), None)
    assert not flow.euler(lambda xt, t: xt.requires_grad_(), noise, 1).requires_grad  # runs under no_grad


def test_the_loss_clamps_one_minus_t_at_jit_value():
    # JiT (Li & He 2025) clamps 1 - t at 0.05 in the x-pred v-loss: weight 1 / max(1 - t, 0.05)^2;
    # eps-pred's v-loss divides by t, clamped at the same 0.05
    x, noise, _ = _tensors((6, 3))
    t = torch.tensor([0.5, 0.9, 0.94, 0.96, 0.99, 1.0])
    model = lambda xt, t: 0.5 * xt
    v_loss, _ = flow.flow_loss(model, x, pred="x", loss_space="v", t=t, noise=noise)
    x_loss, _ = flow.flow_loss(model, x, pred="x", loss_space="x", t=t, noise=noise)
    torch.testing.assert_close(v_loss, x_loss / (1 - t).clamp_min(0.05) ** 2)
    t_eps = 1 - t
    v_loss, _ = flow.flow_loss(model, x, pred="eps", loss_space="v", t=t_eps, noise=noise)
    eps_loss, _ = flow.flow_loss(model, x, pred="eps", loss_space="eps", t=t_eps, noise=noise)
    torch.testing.assert_close(v_loss, eps_loss / t_eps.clamp_min(0.05) ** 2)
