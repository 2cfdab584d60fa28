"""The emoji dataset (render, cache, font search) and the emoji judge (on a 48-emoji subset, for speed)."""

from __future__ import annotations

import time

import pytest
import torch

from minidiff import zoo
from minidiff.data import emoji
from minidiff.judges import emoji as judge

CLASSES = 48  # the test judge learns the first 48 emoji (~3 s); the zoo's judge learns all of them


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One fresh MINIDIFF_HOME for the module: the 32 px render happens once (~2 s)."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("minidiff_home")
        mp.setenv("MINIDIFF_HOME", str(path))
        emoji._MEMO.clear()
        images, names = emoji.load(32)
        yield path, images, names
    emoji._MEMO.clear()


@pytest.fixture(scope="module")
def small_judge(home):
    return judge.fit(steps=90, batch_size=48, classes=CLASSES, progress=False)


def test_render_has_over_1200_distinct_emoji(home):
    _, images, names = home
    assert images.dtype == torch.float32 and images.shape[1:] == (3, 32, 32)
    assert images.min() >= -1 and images.max() <= 1
    assert len(images) == len(names) >= 1200
    assert len(set(names)) == len(names)
    assert len(torch.unique(images.flatten(1), dim=0)) == len(images)  # no two emoji share a picture
    assert "grinning face" in names and all(name == name.lower() for name in names)
    white_corner = (images[:, :, 0, 0] == 1).all(dim=1)  # the background; a few glyphs reach the corner
    assert white_corner.float().mean() > 0.95


def test_cache_reloads_fast_and_identically(home):
    _, images, names = home
    assert emoji.cache_path(32).is_file()
    emoji._MEMO.clear()
    start = time.perf_counter()
    again, again_names = emoji.load(32)
    assert time.perf_counter() - start < 1.0
    assert torch.equal(again, images) and again_names == names


def test_corrupt_cache_is_rendered_again_deterministically(home, capsys):
    _, images, names = home
    path = emoji.cache_path(32)
    path.write_bytes(path.read_bytes()[:1000])  # truncated, as after a crash
    emoji._MEMO.clear()
    again, again_names = emoji.load(32)
    assert "rendering again" in capsys.readouterr().err
    assert torch.equal(again, images) and again_names == names  # a fresh render equals the first one
    assert emoji._read_cache(path, font_id="another font") is None
    assert "another font" in capsys.readouterr().err


def test_sample_is_seeded_and_matches_names(home):
    _, images, names = home
    x, picked = emoji.sample(6, generator=torch.Generator().manual_seed(3))
    y, picked_again = emoji.sample(6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, y) and picked == picked_again
    for image, name in zip(x, picked):
        assert torch.equal(image, images[names.index(name)])
    assert emoji.names() == names and len(emoji.codepoints()) == len(names)
    with pytest.raises(ValueError, match="size"):
        emoji.load(256)


def test_missing_font_says_how_to_install(home, monkeypatch, tmp_path):
    monkeypatch.setattr(emoji, "FONT_PATHS", [])
    monkeypatch.setattr(emoji, "_fc_match", lambda: None)
    monkeypatch.delenv("MINIDIFF_EMOJI_FONT", raising=False)
    with pytest.raises(FileNotFoundError, match="apt-get install fonts-noto-color-emoji"):
        emoji.find_font()
    emoji._MEMO.clear()
    assert len(emoji.load(32)[1]) >= 1200  # no font, but a cache: it is used
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MINIDIFF_EMOJI_FONT"):
        emoji.load(32)  # no font and no cache
    monkeypatch.setenv("MINIDIFF_EMOJI_FONT", str(tmp_path / "nope.ttf"))
    with pytest.raises(FileNotFoundError, match="nope.ttf"):
        emoji.find_font()


def test_judge_recognises_real_emoji_and_rejects_noise(home, small_judge):
    real = home[1][:CLASSES]
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(300, 3, 32, 32, generator=generator).clamp(-1, 1)
    flat = (torch.rand(300, 3, 1, 1, generator=generator) * 2 - 1).expand(300, 3, 32, 32)
    blanks = torch.stack([torch.full((3, 32, 32), v) for v in (-1.0, 0.0, 1.0)])
    on_real = judge.score(real, small_judge, reference=real)
    assert on_real["recognised"] >= 0.95 and on_real["fd"] < 1e-6
    indices, _ = judge.identify(real, small_judge)
    assert (indices == torch.arange(CLASSES)).float().mean() >= 0.95
    for fake in (noise, flat, blanks):
        result = judge.score(fake, small_judge, reference=real)
        assert result["recognised"] <= 0.02, result
        assert result["fd"] > 100 * (on_real["fd"] + 1)


def test_judge_resizes_other_sizes_and_gives_features(home, small_judge):
    bigger = torch.nn.functional.interpolate(home[1][:CLASSES], size=64, mode="bilinear")
    indices, confidences = judge.identify(bigger, small_judge)
    assert (indices == torch.arange(CLASSES)).float().mean() >= 0.9
    assert judge.features(bigger[:5], small_judge).shape == (5, judge.CONFIG["features"])


def test_training_batches_are_seeded_and_recipe_is_registered(home, small_judge):
    real = home[1][:CLASSES]
    a = judge._batch(real, 8, torch.Generator().manual_seed(1))
    b = judge._batch(real, 8, torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert (a[1] == -1).sum() == int(8 * judge.OUTLIER_FRACTION)  # outliers carry class -1
    assert isinstance(judge.RECIPE, zoo.Recipe) and judge.RECIPE.data_version == emoji.DATA_VERSION
    assert judge.RECIPE.name == "emoji-judge" and judge.RECIPE.ruler
    rebuilt = judge.RECIPE.build({**judge.CONFIG, "classes": CLASSES})
    rebuilt.load_state_dict(small_judge.state_dict())  # what zoo.load does with the cached weights
    assert rebuilt.codepoints.tolist() == emoji.codepoints()[:CLASSES]
