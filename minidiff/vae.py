"""A small KL-regularised autoencoder (VAE) for images (B, 3, H, W): the model of chapter 03.

The encoder turns an image into a Gaussian over latents of 4 channels at 1/4 of the resolution
(32x32x3 -> 4x8x8), the decoder turns latents back into an image: the first stage of Latent Diffusion
(Rombach et al. 2022, §3.1 and App. G), trained with a reconstruction, a perceptual and a small KL term.
``encode`` returns latents multiplied by the model's ``scale`` (1 / their std on training data, measured
by ``fit_scale`` and saved with the weights), so a denoiser sees latents of std ~1; ``decode`` undoes it.
Read top to bottom: helpers (the maths) → blocks → config → model → loss → presets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from minidiff.metrics import check_images
from minidiff.unet import AttnBlock, Downsample, Upsample, count_parameters, group_norm, zero_init

# ----------------------------------------------------------------------------------------------------------
# Helpers: the maths of a Gaussian posterior (Kingma & Welling 2014)


def reparameterize(
    mean: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """A sample z = mean + std * noise with std = exp(logvar / 2): random, yet differentiable in both."""
    noise = torch.randn_like(mean) if noise is None else noise
    return mean + torch.exp(0.5 * logvar) * noise


def kl_per_channel(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mean, exp(logvar)) || N(0, 1) ) in nats, summed over H, W: (B, C, H, W) -> (B, C).

    Closed form per latent number: (mean^2 + var - 1 - logvar) / 2 (Kingma & Welling 2014, App. B).
    """
    return 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(dim=(2, 3))


def free_bits(kl: torch.Tensor, bits: float) -> torch.Tensor:
    """KL with free bits (Kingma et al. 2016, eq. 15): sum_c max(bits, batch mean of KL_c); (B, C) -> ()

    A channel whose KL is under ``bits`` nats costs a constant, so it gets no gradient pushing it to the
    prior: it may carry up to ``bits`` nats of information for free. ``bits = 0`` is the plain KL.
    """
    return kl.mean(dim=0).clamp(min=bits).sum()


# ----------------------------------------------------------------------------------------------------------
# Blocks


class ResBlock(nn.Module):
    """Two 3x3 convs with a residual connection: the UNet's ResBlock without the time embedding."""

    def __init__(self, in_ch: int, out_ch: int, groups: int = 32):
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = group_norm(out_ch, groups)
        self.conv2 = zero_init(nn.Conv2d(out_ch, out_ch, 3, padding=1))  # a fresh block is the identity
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out_ch, H, W)
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class Encoder(nn.Module):
    """Image (B, 3, H, W) -> mean and logvar of the latents, each (B, latent_channels, H/f, W/f)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths = [cfg.base_channels * mult for mult in cfg.channel_mults]
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        blocks, ch = [], widths[0]
        for level, width in enumerate(widths):
            for _ in range(cfg.blocks_per_level):
                blocks.append(ResBlock(ch, width, cfg.groups))
                ch = width
            if level < len(widths) - 1:
                blocks.append(Downsample(ch))  # (B, C, H/2, W/2)
        self.down = nn.Sequential(*blocks)
        self.mid = nn.Sequential(ResBlock(ch, ch, cfg.groups), AttnBlock(ch, 1, cfg.groups),
                                 ResBlock(ch, ch, cfg.groups))  # fmt: skip
        self.norm_out = group_norm(ch, cfg.groups)
        self.conv_out = nn.Conv2d(ch, 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.mid(self.down(self.conv_in(x)))  # (B, C_top, H/f, W/f)
        mean, logvar = self.conv_out(F.silu(self.norm_out(h))).chunk(2, dim=1)  # 2 x (B, C_lat, H/f, W/f)
        return mean, logvar.clamp(-30, 20)  # exp(logvar) stays finite (as in Latent Diffusion)


class Decoder(nn.Module):
    """Latents (B, latent_channels, h, w) -> image (B, 3, h*f, w*f)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        widths = [cfg.base_channels * mult for mult in cfg.channel_mults]
        ch = widths[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, ch, 3, padding=1)
        self.mid = nn.Sequential(ResBlock(ch, ch, cfg.groups), AttnBlock(ch, 1, cfg.groups),
                                 ResBlock(ch, ch, cfg.groups))  # fmt: skip
        blocks = []
        for level, width in reversed(list(enumerate(widths))):
            for _ in range(cfg.blocks_per_level + 1):
                blocks.append(ResBlock(ch, width, cfg.groups))
                ch = width
            if level > 0:
                blocks.append(Upsample(ch))  # (B, C, 2H, 2W)
        self.up = nn.Sequential(*blocks)
        self.norm_out = group_norm(ch, cfg.groups)
        self.conv_out = nn.Conv2d(ch, cfg.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.up(self.mid(self.conv_in(z)))  # (B, C_0, H, W)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 3, H, W)


# ----------------------------------------------------------------------------------------------------------
# Model


@dataclass
class VAEConfig:
    """Everything that sets the VAE's shape; presets below are dicts of these fields."""

    in_channels: int = 3
    latent_channels: int = 4
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)  # each level but the last halves H, W: 3 levels -> 1/4
    blocks_per_level: int = 1
    groups: int = 32  # GroupNorm groups; fewer automatically when they do not divide the channels

    @property
    def factor(self) -> int:
        """How much smaller the latents are than the image, per side."""
        return 2 ** (len(self.channel_mults) - 1)


class VAE(nn.Module):
    """encode: images (B, 3, H, W) in [-1, 1] -> scaled latents (B, 4, H/4, W/4); decode: the way back.

    ``forward(x)`` (for training) returns (x_hat, mean, logvar) with unscaled mean and logvar.
    """

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # latents * scale have std ~1 (fit_scale measures it); a buffer, so it is saved with the weights
        self.register_buffer("scale", torch.ones(()))

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        x = check_images(x, "x") if self.cfg.in_channels == 3 else x
        if x.ndim != 4 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"x must be images (B, {self.cfg.in_channels}, H, W), got {tuple(x.shape)}")
        f = self.cfg.factor
        if x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"H and W must be divisible by {f} (the latents are 1/{f} the size), got "
                             f"{x.shape[2]}x{x.shape[3]}: resize or pad the images")  # fmt: skip
        return x

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of the unscaled latents, each (B, latent_channels, H/f, W/f)."""
        return self.encoder(self._check(x))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None):
        mean, logvar = self.posterior(x)
        z = reparameterize(mean, logvar, noise)  # (B, C_lat, H/f, W/f)
        return self.decoder(z), mean, logvar

    def encode(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        """Scaled latents (B, latent_channels, H/f, W/f): the posterior mean (or a sample) times ``scale``."""
        mean, logvar = self.posterior(x)
        if sample:
            noise = torch.randn(mean.shape, generator=generator).to(mean.device)
            mean = reparameterize(mean, logvar, noise)
        return mean * self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, latent_channels, h, w) -> images (B, 3, h*f, w*f), not clamped."""
        if z.ndim != 4 or z.shape[1] != self.cfg.latent_channels:
            raise ValueError(f"z must be latents (B, {self.cfg.latent_channels}, h, w), got "
                             f"{tuple(z.shape)}: pass what encode() returns")  # fmt: skip
        return self.decoder(z / self.scale)


@torch.no_grad()
def fit_scale(model: VAE, images: torch.Tensor, batch_size: int = 256) -> float:
    """Measure 1 / std of the unscaled latent means of ``images`` and store it in ``model.scale``."""
    device = model.scale.device
    means = [model.posterior(chunk.to(device))[0] for chunk in images.split(batch_size)]
    std = float(torch.cat(means).std())
    model.scale.fill_(1 / std)
    return 1 / std


# ----------------------------------------------------------------------------------------------------------
# Loss


def perceptual_distance(lpips, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``lpips`` (a ``minidiff.metrics.LPIPS``) between x_hat clamped to [-1, 1] and x, (B,), as a loss.

    It uses ``LPIPS.loss``, which skips ``check_images``: a batch of early reconstructions can lie in
    [0, 1], which the check refuses as "not [-1, 1] images"; x was checked by the encoder already.
    """
    return lpips.loss(x_hat.clamp(-1, 1), x)


def vae_loss(model: VAE, x: torch.Tensor, *, kl_weight: float = 1e-4, bits: float = 0.0,
             perceptual=None, perceptual_weight: float = 0.0) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """(loss (B,), parts): MSE per image + perceptual_weight * perceptual(x_hat, x) + kl_weight * KL.

    KL is ``free_bits(kl_per_channel, bits)`` in nats per image (a batch average, added to every image's
    loss). ``perceptual`` is a distance (B,) such as ``minidiff.metrics.LPIPS()``; ``parts`` holds each
    term's batch mean (detached) for logging: "mse", "perceptual", "kl" (without free bits) and "loss".
    """
    x_hat, mean, logvar = model(x)
    mse = (x_hat - x).square().mean(dim=(1, 2, 3))  # (B,)
    kl = kl_per_channel(mean, logvar)  # (B, C_lat)
    loss = mse + kl_weight * free_bits(kl, bits)
    dist = torch.zeros_like(mse)
    if perceptual is not None and perceptual_weight:
        dist = perceptual_distance(perceptual, x_hat, x)  # (B,)
        loss = loss + perceptual_weight * dist
    parts = {"mse": mse.mean(), "perceptual": dist.mean(), "kl": kl.sum(1).mean(), "loss": loss.mean()}
    return loss, {key: value.detach() for key, value in parts.items()}


# ----------------------------------------------------------------------------------------------------------
# Presets: plain dicts of VAEConfig fields, e.g. VAE(VAEConfig(**PRESETS["tiny"]))

PRESETS = {
    # ~0.24M parameters: the quick and cpu budgets (emoji 32 px -> 4x8x8; ~0.12 s a step of batch 64 on
    # 2 CPU threads: 800 steps in 97 s in chapter 03)
    "tiny": dict(base_channels=16, channel_mults=(1, 2, 2), blocks_per_level=1, groups=8),
    # ~0.95M parameters: the gpu budget, and benchmarks/vae_vs_diffusers.py
    "small": dict(base_channels=32, channel_mults=(1, 2, 2), blocks_per_level=1, groups=16),
    # ~13.9M parameters: no budget trains it yet
    "base": dict(base_channels=64, channel_mults=(1, 2, 4), blocks_per_level=2, groups=32),
}

__all__ = ["reparameterize", "kl_per_channel", "free_bits", "ResBlock", "Encoder", "Decoder", "VAEConfig",
           "VAE", "fit_scale", "perceptual_distance", "vae_loss", "count_parameters", "PRESETS"]  # fmt: skip
