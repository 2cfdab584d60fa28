"""Checks for chapter 03 (a VAE): reparameterisation, the KL per channel, free bits, the VAE's ResBlock and
its loss, each against minidiff.vae on fixed seeds, with hints for the typical mistakes."""

from __future__ import annotations

import torch

from minidiff.checks.core import assert_close, close, learner_code, passed, perturbed
from minidiff.checks.core import load_reference_weights as _load


def _posterior(seed: int = 0, shape=(3, 4, 5, 6)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


@learner_code
def check_reparameterize(fn) -> None:
    """``fn(mean, logvar, noise) -> mean + exp(logvar / 2) * noise``, differentiable in mean and logvar."""
    from minidiff.vae import reparameterize

    mean, logvar = _posterior()
    noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
    mean, logvar = mean.requires_grad_(), logvar.requires_grad_()
    got, want = fn(mean, logvar, noise), reparameterize(mean, logvar, noise)
    with torch.no_grad():
        if close(got, mean + logvar * noise):
            raise AssertionError("logvar is the log of the variance, not the std: std = exp(logvar / 2)")
        if close(got, mean + logvar.exp() * noise):
            raise AssertionError("exp(logvar) is the variance; scale the noise by the std, exp(logvar / 2)")
        if close(got, mean):
            raise AssertionError("add the noise: z = mean + std * noise (use the noise you are given)")
    assert_close(got, want, "z = mean + exp(logvar / 2) * noise")
    passed(f"z = mean + exp(logvar / 2) * noise, shape {tuple(got.shape)}")
    if got.requires_grad:
        got.sum().backward()
    if mean.grad is None or logvar.grad is None:
        raise AssertionError("no gradient reaches mean or logvar: build z from them with torch operations, "
                             "without .detach(), torch.no_grad() or torch.normal(mean, std)")  # fmt: skip
    assert_close(mean.grad, torch.ones_like(mean), "dz/dmean (should be 1)")
    assert_close(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * noise, "dz/dlogvar (std * noise / 2)")
    passed("gradients flow to mean (1) and logvar (std * noise / 2): the reparameterisation trick")


@learner_code
def check_kl(fn) -> None:
    """``fn(mean, logvar) -> (B, C)``: KL(N(mean, exp(logvar)) || N(0, 1)) in nats, summed over H and W."""
    from minidiff.vae import kl_per_channel

    mean, logvar = _posterior()
    got, want = fn(mean, logvar), kl_per_channel(mean, logvar)
    if isinstance(got, torch.Tensor) and got.shape != want.shape:
        raise AssertionError(f"shape {tuple(got.shape)}, expected {tuple(want.shape)} (B, C): sum over "
                             "H and W only (dims 2 and 3), one KL per image and latent channel")  # fmt: skip
    if close(got, -want, atol=1e-4):
        raise AssertionError("the sign is flipped: a KL is never negative, "
                             "0.5 * (mean^2 + exp(logvar) - 1 - logvar)")  # fmt: skip
    if close(got, want / 30, atol=1e-4):
        raise AssertionError("sum over H and W, do not average: the KL of independent numbers adds up")
    if close(got, 2 * want, atol=1e-4):
        raise AssertionError("the closed form has a factor 1/2: 0.5 * (mean^2 + exp(logvar) - 1 - logvar)")
    if close(got, 0.5 * (mean.square() + logvar.exp().square() - 1 - logvar).sum(dim=(2, 3)), atol=1e-4):
        raise AssertionError("exp(logvar) is already the variance: do not square it")
    assert_close(got, want, "KL per channel", atol=1e-4)
    passed(f"KL per image and channel {tuple(got.shape)}: 0.5 * sum over H, W of mean^2 + var - 1 - logvar")
    zeros = torch.zeros(2, 3, 4, 4)
    if not close(fn(zeros, zeros), torch.zeros(2, 3)):
        raise AssertionError("at the prior (mean 0, logvar 0) the KL must be exactly 0")
    passed("KL is 0 at the prior N(0, 1)")


@learner_code
def check_free_bits(fn) -> None:
    """``fn(kl, bits) -> ()``: the sum over channels of max(bits, the batch mean of each channel's KL)."""
    from minidiff.vae import free_bits

    # channel batch means 0.3, 4.0, 1.2; in channel 2 one image is under 1 nat and one over
    kl = torch.tensor([[0.2, 3.0, 0.6], [0.4, 5.0, 1.8]])
    got, want = fn(kl, 1.0), free_bits(kl, 1.0)
    if isinstance(got, torch.Tensor) and got.ndim != 0:
        raise AssertionError(f"return one number (a scalar tensor), got shape {tuple(got.shape)}: take "
                             "the batch mean (dim 0), clamp each channel, sum over channels")  # fmt: skip
    if close(got, kl.clamp(min=1.0).mean(0).sum()):
        raise AssertionError("average over the batch first, then clamp each channel's mean (Kingma et al. "
                             "2016): clamping each image differs when images straddle the bits")  # fmt: skip
    if close(got, kl.mean(0).sum().clamp(min=1.0)) or close(got, kl.sum(1).mean().clamp(min=3.0)):
        raise AssertionError("clamp each channel separately, not the total: free bits are per channel")
    if close(got, kl.mean(0).clamp(max=1.0).sum()):
        raise AssertionError(
            "use max(bits, KL) (tensor.clamp(min=bits)): a channel under the bits costs bits"
        )
    assert_close(got, want, "free bits, 1 nat per channel")
    passed("sum over channels of max(bits, batch-mean KL): 1 + 4 + 1.2 = 6.2 nats")
    assert_close(fn(kl, 0.0), kl.mean(0).sum(), "free bits with bits = 0 (the plain KL)")
    passed("bits = 0 gives the plain KL")
    kl = kl.clone().requires_grad_()
    out = fn(kl, 1.0)
    if out.requires_grad:
        out.backward()
    if kl.grad is None or kl.grad[:, 0].abs().sum() != 0 or kl.grad[:, 1].abs().sum() == 0:
        raise AssertionError("a channel under the bits must get no gradient, one above it must: use "
                             "kl.clamp(min=bits): it passes gradients only where KL > bits")  # fmt: skip
    passed("channels under the bits get no gradient")


_NAME_HINTS = {
    "skip": "when in_ch != out_ch the residual path is a 1x1 conv named `skip` (nn.Identity otherwise)",
    "emb": "a VAE's ResBlock has no time embedding: drop emb_proj",
}


@learner_code
def check_vae_resblock(cls) -> None:
    """``cls(in_ch, out_ch, groups)``, ``forward(x)``, named like minidiff.vae.ResBlock (no time input)."""
    from minidiff.vae import ResBlock

    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for in_ch, out_ch in ((16, 32), (16, 16)):
            what = f"ResBlock({in_ch}, {out_ch})"
            reference, candidate = perturbed(ResBlock(in_ch, out_ch, 8)), cls(in_ch, out_ch, 8)
            hint = lambda name: next((h for k, h in _NAME_HINTS.items() if k in name),  # noqa: E731
                                     "copy the layer names of minidiff.vae.ResBlock")  # fmt: skip
            _load(candidate, reference, what, hint)
            with torch.no_grad():
                got, want = candidate(x), reference(x)
                if close(got, want - reference.skip(x), atol=1e-4):
                    raise AssertionError(f"{what}: add the residual: return self.skip(x) + h")
            assert_close(got, want, f"{what} output with the reference's weights", atol=1e-4)
            passed(f"{what}: same weights → same output {tuple(got.shape)}")
        fresh = cls(16, 16, 8).eval()
        with torch.no_grad():
            if not close(fresh(x), x, atol=1e-6):
                raise AssertionError(
                    "a fresh block must be the identity: zero-initialise conv2 (weight, bias)"
                )
    passed("a fresh block is the identity (conv2 starts at zero)")


@learner_code
def check_vae_loss(fn) -> None:
    """``fn(model, x, kl_weight) -> (B,)``: per-image MSE (mean over C, H, W) + kl_weight * the summed KL."""
    from minidiff.vae import VAE, VAEConfig, vae_loss

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = perturbed(VAE(VAEConfig(base_channels=8, groups=4)))
        x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
        torch.manual_seed(1)
        got = fn(model, x, 0.01)
        torch.manual_seed(1)
        want, parts = vae_loss(model, x, kl_weight=0.01)
    got = got[0] if isinstance(got, tuple) else got
    if isinstance(got, torch.Tensor) and got.shape != (4,):
        raise AssertionError(f"return one loss per image, shape (B,) = (4,), got {tuple(got.shape)}")
    mse = parts["mse"]
    if close(got.detach(), torch.full((4,), float(mse)) + 0.01 * parts["kl"], atol=1e-4) and not close(
        got.detach(), want.detach(), atol=1e-4
    ):
        raise AssertionError("the KL with free bits at 0 is the batch mean of the summed KL; "
                             "use vae.free_bits(kl, 0.0) or kl.sum(1).mean()")  # fmt: skip
    if close(got.detach(), want.detach() - 0.01 * float(parts["kl"]), atol=1e-4):
        raise AssertionError("add kl_weight * KL: without it the latents can grow without limit")
    if close(got.detach(), want.detach() - 0.02 * float(parts["kl"]), atol=1e-4):
        raise AssertionError("ADD the KL (+ kl_weight * KL): it is a cost, never subtract it")
    assert_close(got.detach(), want.detach(), "loss per image (MSE + kl_weight * KL)", atol=1e-4)
    passed("loss per image = MSE + kl_weight * KL, with the same noise as the reference")
