"""The latent text-to-image recipe: what a training step computes (flow matching on the VAE's scaled latents,
checked against the formula written out), its data, its stored config, and how the judge's ranks are read."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from minidiff import zoo
from minidiff.clip import CLIP, config_for
from minidiff.data import emoji
from minidiff.guidance import null_like
from minidiff.recipes import ldm
from minidiff.text import course_tokenizer
from minidiff.vae import PRESETS as VAE_PRESETS
from minidiff.vae import VAE, VAEConfig


@pytest.fixture(scope="module")
def parts():
    """An untrained tiny VAE (its scale set to 3, as fit_scale would) and tiny CLIP, and a UNet for them."""
    torch.manual_seed(0)
    vae = VAE(VAEConfig(**VAE_PRESETS["tiny"])).eval()
    vae.scale.fill_(3.0)
    tokenizer = course_tokenizer()
    clip = CLIP(config_for(tokenizer, "tiny"), tokenizer).eval()
    unet = ldm.UNet(ldm.unet_config(vae, clip, "tiny"))
    for p in unet.parameters():  # the UNet's last conv starts at zero: perturb it so outputs are not 0
        p.data.add_(0.02 * torch.randn_like(p))
    return vae, clip, unet.eval()


def test_latents_are_the_posterior_mean_times_the_measured_scale(parts):
    vae, _, _ = parts
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    z = ldm.encode_latents(vae, x, batch_size=2)
    assert z.shape == (5, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(z, vae.posterior(x)[0] * 3.0)


def test_the_training_loss_is_flow_matching_on_scaled_latents(parts):
    """xt = t z + (1 - t) noise; the UNet, told the prompt, should output z - noise; mean squared error."""
    vae, clip, unet = parts
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    z = ldm.encode_latents(vae, x)
    cond = ldm.encode_prompts(clip, ["red apple", "banana", "hot dog"])
    t, noise = torch.tensor([0.1, 0.5, 0.9]), torch.randn(3, 4, 8, 8)
    loss, t_used = ldm.loss_fn(unet, (z, cond), p_drop=0.0, t=t, noise=noise)
    with torch.no_grad():
        xt = t.view(-1, 1, 1, 1) * z + (1 - t.view(-1, 1, 1, 1)) * noise
        want = (unet(xt, t, **cond) - (z - noise)).square().mean(dim=(1, 2, 3))
    torch.testing.assert_close(loss.detach(), want)
    assert torch.equal(t_used, t) and loss.shape == (3,)
    dropped, _ = ldm.loss_fn(unet, (z, cond), p_drop=1.0, t=t, noise=noise)  # every condition dropped
    with torch.no_grad():
        want_null = (unet(xt, t, **null_like(cond)) - (z - noise)).square().mean(dim=(1, 2, 3))
    torch.testing.assert_close(dropped.detach(), want_null)
    assert not torch.allclose(want, want_null)  # the prompt matters to this UNet


def test_the_data_pairs_each_latent_with_its_own_prompt(parts):
    _, clip, _ = parts
    latents = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 4, 8, 8)
    cond = ldm.encode_prompts(clip, ["a", "b", "c", "d", "e", "f"])
    z, batch_cond = ldm.make_data(latents, cond)(16, torch.Generator().manual_seed(0))
    rows = z[:, 0, 0, 0].long()
    assert z.shape == (16, 4, 8, 8) and batch_cond["context"].shape[0] == 16
    torch.testing.assert_close(batch_cond["cond"], cond["cond"][rows])
    torch.testing.assert_close(batch_cond["context_mask"], cond["context_mask"][rows])


def test_subsets():
    food, everything = ldm.subset("food"), ldm.subset("all")
    names = emoji.names()
    assert len(food) == 83 and len(everything) == len(names)
    assert {"red apple", "banana", "hot dog", "popcorn"} <= {names[i] for i in food}
    with pytest.raises(ValueError, match="subset='drinks': use one of food, all"):
        ldm.subset("drinks")


def test_the_config_is_json_and_rebuilds_the_same_model(parts):
    _, _, unet = parts
    from dataclasses import asdict

    config = json.loads(
        json.dumps({"unet": asdict(unet.cfg), "vae": "a" * 64, "clip": "b" * 64, "subset": "food"})
    )
    rebuilt = ldm.build(config)
    assert rebuilt.cfg == unet.cfg
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in unet.state_dict().items()
    }
    assert ldm.RECIPE.config_keys == frozenset(config) and isinstance(ldm.RECIPE, zoo.Recipe)
    assert ldm.RECIPE.name == "ldm" and not ldm.RECIPE.ruler
    for budget, plan in ldm.SETTINGS.items():
        assert plan["preset"] in ldm.PRESETS and plan["subset"] in ldm.SUBSETS, budget


def test_sample_decodes_guided_heun_latents_into_clamped_images(parts):
    vae, clip, unet = parts
    cond = clip.text_condition(["red apple", "banana"])
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    images = ldm.sample(unet, vae, cond, noise, steps=3, scale=2.0)
    assert images.shape == (2, 3, 32, 32) and images.abs().max() <= 1
    torch.testing.assert_close(images, ldm.sample(unet, vae, cond, noise, steps=3, scale=2.0))


class FixedLogits(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[: len(x)]


def test_judge_ranks_count_the_classes_scored_above_the_target():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0], [5.0, 5.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    images = torch.zeros(3, 3, 32, 32)
    ranks = ldm.judge_ranks(images, torch.tensor([1, 0, 0]), model=FixedLogits(logits))
    assert ranks.tolist() == [0, 0, 3]  # a tie counts in the target's favour
    out = ldm.recognition(images, torch.tensor([1, 0, 0]), model=FixedLogits(logits))
    assert out["top1"] == pytest.approx(2 / 3) and out["top5"] == 1.0
