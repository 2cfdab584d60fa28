"""minidiff.vae pinned against independent references: the KL against a Monte Carlo estimate and torch's
distributions, reparameterisation gradients against their closed form; free bits, scale, shapes, errors."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from minidiff import vae
from minidiff.vae import VAE, VAEConfig

TINY = dict(base_channels=8, channel_mults=(1, 2, 2), blocks_per_level=1, groups=4)


def tiny(**kwargs) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(**{**TINY, **kwargs}))


def images(n=3, size=16, seed=0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- the maths


def test_kl_matches_torch_distributions_and_monte_carlo():
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64)
    logvar = torch.randn(2, 3, 4, 4, generator=generator, dtype=torch.float64)
    got = vae.kl_per_channel(mean, logvar)  # (B, C)
    assert got.shape == (2, 3)
    posterior, prior = Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    torch.testing.assert_close(got, kl_divergence(posterior, prior).sum(dim=(2, 3)))
    # Monte Carlo: E_q[log q(z) - log p(z)] with 200,000 samples of z
    z = posterior.sample((200_000,))
    estimate = (posterior.log_prob(z) - prior.log_prob(z)).mean(0).sum(dim=(2, 3))
    assert (estimate - got).abs().max() < 0.05 * got.abs().max()


def test_kl_is_zero_exactly_at_the_prior():
    zeros = torch.zeros(2, 4, 3, 3)
    assert vae.kl_per_channel(zeros, zeros).abs().max() == 0
    assert (vae.kl_per_channel(zeros + 0.1, zeros) > 0).all()


def test_reparameterize_is_mean_plus_std_noise_and_differentiable_in_both():
    mean = torch.tensor([0.5, -1.0], requires_grad=True)
    logvar = torch.tensor([0.0, 2 * torch.log(torch.tensor(3.0)).item()], requires_grad=True)
    noise = torch.tensor([2.0, 1.0])
    z = vae.reparameterize(mean, logvar, noise)
    torch.testing.assert_close(z, torch.tensor([2.5, 2.0]))  # std 1 and 3
    z.sum().backward()
    torch.testing.assert_close(mean.grad, torch.ones(2))  # dz/dmean = 1
    torch.testing.assert_close(
        logvar.grad, 0.5 * torch.tensor([1.0, 3.0]) * noise
    )  # dz/dlogvar = std*noise/2


def test_reparameterized_samples_have_the_posterior_moments():
    torch.manual_seed(0)
    mean, logvar = torch.full((200_000,), 1.5), torch.full((200_000,), -1.0)
    z = vae.reparameterize(mean, logvar)
    assert abs(float(z.mean()) - 1.5) < 0.01
    assert abs(float(z.std()) - float(torch.exp(torch.tensor(-0.5)))) < 0.01


def test_free_bits_clamps_each_channel_and_stops_its_gradient():
    kl = torch.tensor([[0.2, 3.0, 1.0], [0.4, 5.0, 1.4]], requires_grad=True)  # channel means 0.3, 4.0, 1.2
    out = vae.free_bits(kl, 1.0)
    torch.testing.assert_close(out, torch.tensor(1.0 + 4.0 + 1.2))
    out.backward()
    torch.testing.assert_close(kl.grad, torch.tensor([[0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]))  # under 1: no grad
    torch.testing.assert_close(vae.free_bits(kl, 0.0), kl.mean(0).sum())


# ---- the model


def test_shapes_factor_four_and_latent_channels():
    model = tiny()
    x = images(2, 32)
    mean, logvar = model.posterior(x)
    assert mean.shape == logvar.shape == (2, 4, 8, 8)
    z = model.encode(x)
    assert z.shape == (2, 4, 8, 8)
    assert model.decode(z).shape == (2, 3, 32, 32)
    x_hat, mean, logvar = model(x)
    assert x_hat.shape == x.shape
    assert tiny(latent_channels=8).encode(images(1, 16)).shape == (1, 8, 4, 4)
    assert VAEConfig(channel_mults=(1, 2)).factor == 2


def test_fit_scale_makes_latent_std_one_and_decode_undoes_it():
    model = tiny().eval()
    x = images(16, 16)
    with torch.no_grad():
        raw = model.posterior(x)[0]
        scale = vae.fit_scale(model, x)
        assert abs(scale - 1 / float(raw.std())) < 1e-6
        z = model.encode(x)
        assert abs(float(z.std()) - 1) < 1e-5
        torch.testing.assert_close(z, raw * scale)
        torch.testing.assert_close(model.decode(z), model.decoder(raw))  # decode divides the scale out


def test_scale_is_saved_with_the_weights():
    model = tiny()
    model.scale.fill_(2.5)
    assert "scale" in model.state_dict()
    other = tiny()
    other.load_state_dict(model.state_dict())
    assert float(other.scale) == 2.5


def test_encode_sample_draws_around_the_mean():
    model = tiny().eval()
    x = images(2, 16)
    with torch.no_grad():
        mean = model.encode(x)
        a = model.encode(x, sample=True, generator=torch.Generator().manual_seed(1))
        b = model.encode(x, sample=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, mean)


def test_fresh_resblocks_are_the_identity():
    block = vae.ResBlock(8, 8, groups=4)
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(block(x), x)


def test_loss_parts_add_up_and_backpropagate():
    model = tiny()
    x = images(4, 16)
    torch.manual_seed(1)
    loss, parts = vae.vae_loss(model, x, kl_weight=0.01, bits=0.0)
    assert loss.shape == (4,)
    torch.testing.assert_close(parts["loss"], parts["mse"] + 0.01 * parts["kl"], rtol=1e-5, atol=1e-6)
    assert float(parts["perceptual"]) == 0
    loss.mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_loss_with_a_perceptual_distance():
    model = tiny()
    x = images(4, 16)

    class Half(torch.nn.Module):  # a stand-in with the LPIPS interface: loss(a, b) -> (B,)
        def loss(self, a, b):
            return 0.5 * torch.ones(len(a))

    _, parts = vae.vae_loss(model, x, kl_weight=0.0, perceptual=Half(), perceptual_weight=2.0)
    torch.testing.assert_close(parts["loss"], parts["mse"] + 1.0)


def test_training_lowers_the_reconstruction_error():
    model = tiny()
    coarse = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    x = torch.nn.functional.interpolate(coarse, size=16, mode="bilinear").clamp(-1, 1)  # smooth: learnable
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss, parts = vae.vae_loss(model, x, kl_weight=1e-4)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()
        first = first if first is not None else float(parts["mse"])
    assert float(parts["mse"]) < 0.5 * first


# ---- clear errors


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.zeros(3, 16, 16), "batch dimension"),
        (torch.zeros(1, 16, 16, 3), "channels last"),
        (torch.zeros(1, 1, 16, 16), r"\(B, 3, H, W\)"),
        (images(1, 18), "divisible by 4"),
        (torch.rand(1, 3, 16, 16), r"\[0, 1\]"),
        (images(1, 16) * 100, r"\[-1, 1\]"),
    ],
)
def test_bad_images_raise_a_clear_error(x, match):
    with pytest.raises(ValueError, match=match):
        tiny().encode(x)


def test_bad_latents_raise_a_clear_error():
    with pytest.raises(ValueError, match="encode"):
        tiny().decode(torch.zeros(1, 3, 8, 8))


def test_presets_build_with_the_promised_latent_shape():
    for name, preset in vae.PRESETS.items():
        model = VAE(VAEConfig(**preset))
        assert model.cfg.factor == 4, name
        assert vae.count_parameters(model) < 20_000_000
