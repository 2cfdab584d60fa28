"""The VAE checks in minidiff.checks pass on the reference and fail, with a useful hint, on broken copies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minidiff import checks, vae


def test_reference_passes_every_check(capsys):
    checks.check_reparameterize(vae.reparameterize)
    checks.check_kl(vae.kl_per_channel)
    checks.check_free_bits(vae.free_bits)
    checks.check_vae_resblock(vae.ResBlock)
    checks.check_vae_loss(lambda model, x, kl_weight: vae.vae_loss(model, x, kl_weight=kl_weight)[0])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 14 and all(line.startswith("✓ ") for line in lines)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda mean, logvar, noise: mean + logvar * noise, "not the std"),
        (lambda mean, logvar, noise: mean + logvar.exp() * noise, "variance"),
        (lambda mean, logvar, noise: mean * 1, "add the noise"),
        (lambda mean, logvar, noise: (mean + (0.5 * logvar).exp() * noise).detach(), "no gradient"),
        (lambda mean, logvar, noise: mean + (0.5 * logvar).exp() * torch.randn_like(noise), "values differ"),
    ],
)
def test_broken_reparameterize(fn, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_reparameterize(fn)


def _kl(mean, logvar):
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda mean, logvar: -_kl(mean, logvar).sum(dim=(2, 3)), "sign"),
        (lambda mean, logvar: _kl(mean, logvar).mean(dim=(2, 3)), "do not average"),
        (lambda mean, logvar: 2 * _kl(mean, logvar).sum(dim=(2, 3)), "1/2"),
        (lambda mean, logvar: _kl(mean, 2 * logvar).sum(dim=(2, 3)) + 0.5 * logvar.sum(dim=(2, 3)), "square"),
        (lambda mean, logvar: _kl(mean, logvar).sum(dim=(1, 2, 3)), r"\(B, C\)"),
        (lambda mean, logvar: 0.5 * (mean.square() + logvar.exp() - logvar).sum(dim=(2, 3)), "values differ"),
    ],
)
def test_broken_kl(fn, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_kl(fn)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda kl, bits: kl.clamp(min=bits).mean(0).sum(), "average over the batch first"),
        (lambda kl, bits: kl.mean(0).sum().clamp(min=bits), "each channel separately"),
        (lambda kl, bits: kl.mean(0).clamp(max=bits).sum(), "max"),
        (lambda kl, bits: kl.mean(0).clamp(min=bits), "scalar"),
        (lambda kl, bits: torch.maximum(kl.mean(0), torch.tensor(bits)).sum().detach(), "no gradient"),
    ],
)
def test_broken_free_bits(fn, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_free_bits(fn)


class ResBlockWithoutSkip(vae.ResBlock):
    def forward(self, x):
        return self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))


class ResBlockNotZeroInit(vae.ResBlock):
    def __init__(self, *args):
        super().__init__(*args)
        torch.nn.init.normal_(self.conv2.weight)


class ResBlockWithTime(vae.ResBlock):
    def __init__(self, in_ch, out_ch, groups=32):
        super().__init__(in_ch, out_ch, groups)
        self.emb_proj = torch.nn.Linear(4, out_ch)


class ResBlockReLU(vae.ResBlock):
    def forward(self, x):
        h = self.conv1(F.relu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.relu(self.norm2(h)))


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        (ResBlockWithoutSkip, "add the residual"),
        (ResBlockNotZeroInit, "identity"),
        (ResBlockWithTime, "no time embedding"),
        (ResBlockReLU, "values differ"),
    ],
)
def test_broken_resblocks(cls, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_vae_resblock(cls)


def _parts(model, x):
    x_hat, mean, logvar = model(x)
    return (x_hat - x).square().mean(dim=(1, 2, 3)), vae.kl_per_channel(mean, logvar)


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (lambda model, x, w: _parts(model, x)[0], "add kl_weight"),
        (
            lambda model, x, w: (lambda mse, kl: mse - w * kl.sum(1).mean())(*_parts(model, x)),
            "never subtract",
        ),
        (
            lambda model, x, w: (lambda mse, kl: (mse + w * kl.sum(1).mean()).mean())(*_parts(model, x)),
            r"\(B,\)",
        ),
        (
            lambda model, x, w: (lambda mse, kl: mse + w * kl.mean(1).mean())(*_parts(model, x)),
            "values differ",
        ),
    ],
)
def test_broken_vae_loss(fn, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_vae_loss(fn)


def test_a_stub_says_it_is_not_written_yet():
    def my_reparameterize(mean, logvar, noise):
        """z = mean + exp(logvar / 2) * noise."""
        raise NotImplementedError("z = mean + exp(logvar / 2) * noise")

    with pytest.raises(checks.NotWrittenYet, match="not written yet"):
        checks.check_reparameterize(my_reparameterize)
