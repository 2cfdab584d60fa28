"""The VAE's zoo recipe: a fixed held-out split, a config the zoo can store and rebuild, a short fit."""

from __future__ import annotations

import json

import torch

from minidiff import zoo
from minidiff.data import emoji
from minidiff.recipes import vae as recipe
from minidiff.vae import VAEConfig


def test_split_holds_out_every_tenth_emoji():
    train, held_out, index = recipe.split()
    images, _ = emoji.load(32)
    assert index == list(range(0, len(images), recipe.HELD_OUT_EVERY))
    assert len(train) + len(held_out) == len(images)
    torch.testing.assert_close(held_out, images[index])
    assert not any(torch.equal(held_out[0], image) for image in train)


def test_config_round_trips_through_json():
    config = json.loads(json.dumps({**VAEConfig().__dict__}))  # tuples come back as lists
    model = recipe.build(config)
    assert model.cfg.channel_mults == (1, 2, 2)
    assert recipe.RECIPE.config_keys == frozenset(config)
    assert isinstance(recipe.RECIPE, zoo.Recipe) and recipe.RECIPE.name == "vae"


def test_a_short_fit_returns_an_ema_model_with_its_scale_measured():
    model, log = recipe.fit("quick", steps=3, progress=False, perceptual_weight=0.0)
    assert len(log["history"].losses) == 3 and len(log["mse"]) == 3
    assert float(model.scale) != 1.0
    _, held_out, _ = recipe.split()
    recon = recipe.reconstruct(model, held_out[:4])
    assert recon.shape == (4, 3, 32, 32) and recon.abs().max() <= 1
