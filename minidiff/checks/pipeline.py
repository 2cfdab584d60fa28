"""Checks for chapter 06 (latent text to image): the prompt -> CLIP -> guided UNet on latents -> VAE chain."""

from __future__ import annotations

import torch

from minidiff import flow
from minidiff.checks.core import assert_close, close, learner_code, passed
from minidiff.guidance import guided


def _parts():
    """Untrained tiny VAE, CLIP and latent UNet, nudged so every output depends on every input."""
    from minidiff.clip import CLIP, config_for
    from minidiff.recipes import ldm
    from minidiff.text import train_bpe
    from minidiff.vae import PRESETS, VAE, VAEConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae = VAE(VAEConfig(**PRESETS["tiny"])).eval()
        vae.scale.fill_(0.3)  # a scale far from 1, so forgetting to decode through it shows
        tokenizer = train_bpe(["red apple", "a small blue star at the top left"], merges=20)
        clip = CLIP(config_for(tokenizer, "tiny"), tokenizer).eval()
        unet = ldm.UNet(ldm.unet_config(vae, clip, "tiny")).eval()
        for p in unet.parameters():  # the UNet's zero-initialised layers would hide the condition
            p.data.add_(0.05 * torch.randn_like(p))
    return vae, clip, unet


@learner_code
def check_text_to_image(fn) -> None:
    """``fn(unet, vae, clip, prompts, noise, steps, scale) -> images (B, 3, 32, 32)`` in [-1, 1]."""
    vae, clip, unet = _parts()
    prompts = ["red apple", "a small blue star at the top left"]
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    steps, scale = 3, 4.0
    with torch.no_grad():
        cond = clip.text_condition(prompts)
        z = flow.heun(guided(unet, cond, scale), noise, steps)
        want = vae.decode(z).clamp(-1, 1)
        got = fn(unet, vae, clip, prompts, noise.clone(), steps, scale)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"expected a tensor of images, got {type(got).__name__}")
        if got.shape == z.shape:
            raise AssertionError(f"got latents {tuple(got.shape)}: turn them into pixels with vae.decode(z)")
        if got.shape != want.shape:
            raise AssertionError(f"expected images shaped {tuple(want.shape)}, got {tuple(got.shape)}")
        if close(got, vae.decode(z), atol=1e-4):
            raise AssertionError("the images are not clamped: end with .clamp(-1, 1), the images' range")
        if close(got, vae.decoder(z).clamp(-1, 1), atol=1e-4):
            raise AssertionError("vae.decoder skips the latent scale: call vae.decode(z), which divides by "
                                 "it")  # fmt: skip
        unguided = vae.decode(flow.heun(guided(unet, cond, 1.0), noise, steps)).clamp(-1, 1)
        if close(got, unguided, atol=1e-4):
            raise AssertionError("scale has no effect: sample with guidance.guided(unet, cond, scale)")
        euler = vae.decode(flow.euler(guided(unet, cond, scale), noise, steps)).clamp(-1, 1)
        if close(got, euler, atol=1e-4):
            raise AssertionError("that is Euler: use flow.heun, the sampler the pipeline uses")
        assert_close(got, want, "images from the prompts (tiny untrained parts, 3 Heun steps, scale 4)",
                     atol=1e-4)  # fmt: skip
    passed("prompt -> CLIP text condition -> guided Heun on latents -> vae.decode -> clamp to [-1, 1]")
