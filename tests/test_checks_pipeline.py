"""The chapter-06 check passes on the reference chain and fails, with a useful hint, on broken copies."""

from __future__ import annotations

import pytest
import torch

from minidiff import checks, flow
from minidiff.guidance import guided


def reference(unet, vae, clip, prompts, noise, steps, scale):
    z = flow.heun(guided(unet, clip.text_condition(prompts), scale), noise, steps)
    return vae.decode(z).clamp(-1, 1)


def latents(unet, vae, clip, prompts, noise, steps, scale):
    return flow.heun(guided(unet, clip.text_condition(prompts), scale), noise, steps)


def unclamped(unet, vae, clip, prompts, noise, steps, scale):
    return vae.decode(latents(unet, vae, clip, prompts, noise, steps, scale))


def unscaled(unet, vae, clip, prompts, noise, steps, scale):
    return vae.decoder(latents(unet, vae, clip, prompts, noise, steps, scale)).clamp(-1, 1)


def unguided(unet, vae, clip, prompts, noise, steps, scale):
    return reference(unet, vae, clip, prompts, noise, steps, 1.0)


def euler(unet, vae, clip, prompts, noise, steps, scale):
    z = flow.euler(guided(unet, clip.text_condition(prompts), scale), noise, steps)
    return vae.decode(z).clamp(-1, 1)


def other_prompt(unet, vae, clip, prompts, noise, steps, scale):
    return reference(unet, vae, clip, prompts[::-1], noise, steps, scale)


def test_passes_on_the_reference(capsys):
    checks.check_text_to_image(reference)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(
    "broken, hint",
    [
        (latents, "vae.decode"),
        (unclamped, "clamp"),
        (unscaled, "divides by"),
        (unguided, "guidance.guided"),
        (euler, "flow.heun"),
        (other_prompt, "images from the prompts"),
    ],
)
def test_fails_with_a_hint(broken, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_text_to_image(broken)


def test_the_parts_do_not_touch_the_global_rng():
    torch.manual_seed(3)
    before = torch.rand(1)
    torch.manual_seed(3)
    checks.check_text_to_image(reference)
    assert torch.equal(torch.rand(1), before)
