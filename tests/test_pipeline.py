"""minidiff.pipeline: loading the zoo's parts (and refusing to train or to use broken ones), generating
deterministic images, and refusing bad prompts and sampler settings with a message that says what to do."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest
from ldm_home import copy_of, seeded, use
from PIL import Image

from minidiff import zoo
from minidiff.pipeline import Pipeline, PipelineError, check_prompts, missing, to_pil, tokenizer
from minidiff.recipes import ldm


@pytest.fixture
def pipe(trained_home, monkeypatch):
    use(trained_home, monkeypatch)
    return Pipeline.load(budget="quick")


def test_a_missing_model_is_an_error_that_says_how_to_train_it_and_trains_nothing(tmp_path, monkeypatch):
    use(seeded(tmp_path / "home"), monkeypatch)
    assert missing("quick") == ["vae", "clip", "ldm"]
    with pytest.raises(PipelineError, match=r"missing: vae, clip, ldm\): train it with --train") as err:
        Pipeline.load(budget="quick")
    assert "Pipeline.load(train=True)" in str(err.value) and "\n" not in str(err.value)
    assert not list((tmp_path / "home" / "zoo").glob("vae*"))


def test_an_unknown_budget_is_refused(pipe):
    with pytest.raises(PipelineError, match="unknown budget 'fast': use one of quick, cpu, gpu"):
        Pipeline.load(budget="fast")


def test_generate_gives_32px_images_one_per_prompt_the_same_for_a_seed(pipe):
    images = pipe.generate(["red apple", "banana"], steps=3, seed=1)
    assert len(images) == 2 and all(isinstance(im, Image.Image) for im in images)
    assert images[0].size == (32, 32) and images[0].mode == "RGB"
    again = pipe.generate(["red apple", "banana"], steps=3, seed=1)
    assert [im.tobytes() for im in images] == [im.tobytes() for im in again]
    other = pipe.generate(["red apple", "banana"], steps=3, seed=2)
    assert images[0].tobytes() != other[0].tobytes()
    assert len(pipe.generate("red apple", steps=2)) == 1


def test_generate_matches_the_recipe_sampler_decoded_by_the_vae(pipe):
    """The pipeline is the recipe's sampler on noise from the seed: Heun, guidance, VAE decode, clamp."""
    import torch

    cond = pipe.clip.text_condition(["red apple"])
    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(5))
    want = ldm.sample(pipe.unet, pipe.vae, cond, noise, steps=4, scale=2.0)
    assert want.abs().max() <= 1
    got = pipe.generate("red apple", steps=4, cfg=2.0, seed=5)[0]
    assert got.tobytes() == to_pil(want)[0].tobytes()


@pytest.mark.parametrize(
    "prompt, message",
    [
        ("", "the prompt is empty: describe what to draw, e.g. 'red apple'"),
        ("   ", "the prompt is empty: describe what to draw, e.g. 'red apple'"),
        (["red apple", ""], "the prompt is empty"),
        ("!?", "the prompt '!?' has no words: describe what to draw in words, e.g. 'red apple'"),
        ([], "no prompts given"),
    ],
)
def test_an_empty_prompt_is_refused(pipe, prompt, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pipe.generate(prompt)


def test_an_overlong_prompt_is_refused_with_the_limit_and_how_to_shorten_it(pipe):
    with pytest.raises(ValueError, match=r"the prompt is \d+ tokens long, the limit is 32: shorten it"):
        pipe.generate("red apple " * 30)
    assert check_prompts("red apple", tokenizer("quick")) == ["red apple"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=0), "steps=0: use a whole number"),
        (dict(steps=2.5), "steps=2.5: use a whole number"),
        (dict(steps=True), "steps=True"),
        (dict(cfg=-1), "cfg=-1: use a guidance scale from 0 to 50"),
        (dict(cfg=math.nan), "cfg=nan"),
        (dict(cfg=math.inf), "cfg=inf"),
        (dict(interval=(0.8, 0.2)), "interval=.*low <= high"),
    ],
)
def test_bad_sampler_settings_are_refused(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe.generate("red apple", **kwargs)


def test_a_corrupt_model_file_is_named_with_the_fix(trained_home, tmp_path, monkeypatch):
    home = copy_of(trained_home, tmp_path, monkeypatch)
    weights = home / "zoo" / "ldm-quick.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(PipelineError) as err:
        Pipeline.load(budget="quick")
    message = str(err.value)
    assert "the ldm model (quick) cannot be used" in message and str(weights) in message
    assert "Delete" in message and "--train" in message and "\n" not in message


def test_a_foreign_model_file_is_named_with_the_fix(trained_home, tmp_path, monkeypatch):
    home = copy_of(trained_home, tmp_path, monkeypatch)
    meta = home / "zoo" / "ldm-quick.json"
    for suffix in (".json", ".safetensors"):  # the vae's files under the ldm's names
        shutil.copy(home / "zoo" / f"vae-quick{suffix}", meta.with_suffix(suffix))
    with pytest.raises(PipelineError, match="foreign file") as err:
        Pipeline.load(budget="quick")
    assert str(meta) in str(err.value) and "--train" in str(err.value)


def test_a_unet_trained_on_another_vae_is_refused(trained_home, tmp_path, monkeypatch):
    home = copy_of(trained_home, tmp_path, monkeypatch)
    meta = home / "zoo" / "ldm-quick.json"
    info = json.loads(meta.read_text())
    info["config"]["vae"] = "0" * 64
    meta.write_text(json.dumps(info))
    with pytest.raises(
        PipelineError, match="trained with another vae than the one cached now: run again with --train"
    ):
        Pipeline.load(budget="quick")


def test_the_zoo_stores_recognition_against_chance_and_real_emoji(trained_home, monkeypatch):
    use(trained_home, monkeypatch)
    metrics = zoo.info(ldm.RECIPE, budget="quick")["metrics"]
    assert metrics["emoji"] == 83 and metrics["judge_classes"] == 1280
    assert metrics["chance_top5"] == pytest.approx(5 / 1280)
    assert metrics["real"]["top1"] > 0.95  # the judge knows the real emoji of these prompts
    for key in ("scale_1", f"scale_{ldm.GUIDANCE:g}", "vae_reconstructions"):
        assert 0 <= metrics[key]["top1"] <= metrics[key]["top5"] <= 1
