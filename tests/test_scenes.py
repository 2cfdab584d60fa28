"""data.scenes (layouts and textured renders) and judges.scenes (the segmenter), on tiny CPU batches."""

from __future__ import annotations

import pytest
import torch

from minidiff.data import scenes
from minidiff.judges import scenes as judge

SKY, CLOUD = scenes.CLASSES.index("sky"), scenes.CLASSES.index("cloud")
GROUND = {scenes.CLASSES.index(name) for name in ("water", "sand", "grass", "tree", "rock")}


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))


def _seed(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("size", [16, 24, 32, 64])
def test_sample_shapes_ranges_and_one_hot(size):
    images, maps = scenes.sample(5, size, generator=_seed(0))
    assert images.shape == (5, 3, size, size) and images.dtype == torch.float32
    assert maps.shape == (5, len(scenes.CLASSES), size, size) and maps.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert torch.equal(maps.sum(dim=1), torch.ones(5, size, size))  # exactly one class a pixel
    assert set(maps.unique().tolist()) <= {0.0, 1.0}


def test_same_seed_same_scene_and_other_seed_differs():
    a, b, c = (scenes.sample(4, 32, generator=_seed(s)) for s in (1, 1, 2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_layouts_are_plausible_and_use_every_class():
    _, maps = scenes.sample(200, 32, generator=_seed(3))
    classes = maps.argmax(dim=1)  # (B, H, W)
    assert set(classes[:, 0].unique().tolist()) <= {SKY, CLOUD}  # the top row is always sky or cloud
    assert set(classes[:, -1].unique().tolist()) <= GROUND  # the bottom row is always ground
    share = maps.mean(dim=(0, 2, 3))
    assert (share > 0.003).all(), dict(zip(scenes.CLASSES, share.tolist()))  # every class shows up
    assert len(scenes.CLASSES) >= 6 and set(scenes.PALETTE) == set(scenes.CLASSES)


def test_renders_are_textured_not_flat():
    images, maps = scenes.sample(50, 32, generator=_seed(4))
    classes = maps.argmax(dim=1)
    for k, name in enumerate(scenes.CLASSES):
        pixels = images.permute(0, 2, 3, 1)[classes == k]  # (N, 3)
        spread = pixels.std(dim=0).mean()
        assert spread > 0.02, name  # colours vary within a class (gradients, shading, noise)
    # and a class never renders as its flat palette colour
    flat = scenes.map_to_rgb(maps)
    assert (images - flat).abs().mean() > 0.1


def test_map_to_rgb():
    _, maps = scenes.sample(3, 16, generator=_seed(5))
    rgb = scenes.map_to_rgb(maps)
    assert rgb.shape == (3, 3, 16, 16) and rgb.min() >= -1 and rgb.max() <= 1
    sky = torch.tensor(scenes.PALETTE["sky"]) / 127.5 - 1
    assert torch.allclose(rgb[0, :, 0, 0], sky)  # the top-left pixel is sky


def test_bad_size_raises():
    with pytest.raises(ValueError, match="size"):
        scenes.sample(1, size=4)


# ---- the judge -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def segmenter():
    # a short run of the recipe's training (the zoo's runs longer): enough to pass the checks below
    return judge.fit(120, progress=False, device="cpu")


def test_segmenter_size_and_shape():
    model = judge.build(judge.CONFIG)
    params = sum(p.numel() for p in model.parameters())
    assert 50_000 <= params <= 200_000
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, len(scenes.CLASSES), 32, 32)


def test_judge_scores_real_renders_near_perfect(segmenter):
    for size in (32, 64):
        images, maps = scenes.sample(64, size, generator=_seed(100 + size))
        result = judge.score(images, maps, model=segmenter)
        assert result["pixel_accuracy"] >= 0.95, (size, result)
        assert result["mean_iou"] >= 0.6, (size, result)


def test_judge_scores_noise_and_wrong_maps_low(segmenter):
    images, maps = scenes.sample(64, 32, generator=_seed(6))
    chance = judge.chance(maps)["pixel_accuracy"]  # always answering the most common class (sky)
    noise = torch.rand(images.shape, generator=_seed(7)) * 2 - 1
    assert judge.score(noise, maps, model=segmenter)["pixel_accuracy"] < chance
    wrong = judge.score(images, maps.roll(1, dims=0), model=segmenter)  # another scene's map
    assert wrong["pixel_accuracy"] < 0.75 and wrong["mean_iou"] < 0.4


def test_judge_handles_odd_sizes_and_checks_inputs(segmenter):
    images, maps = scenes.sample(4, 30, generator=_seed(8))
    assert judge.score(images, maps, model=segmenter)["pixel_accuracy"] > 0.8
    with pytest.raises(ValueError, match="same size"):
        judge.score(images, maps[..., :16, :16], model=segmenter)
    with pytest.raises(ValueError, match="expected images"):
        judge.score(images[0], maps, model=segmenter)


def test_pixel_agreement_is_the_score_image_by_image(segmenter):
    images, maps = scenes.sample(6, 32, generator=_seed(9))
    images[2] = torch.rand(images[2].shape, generator=_seed(10)) * 2 - 1  # one picture of noise
    per_image = judge.pixel_agreement(images, maps, model=segmenter)
    assert per_image.shape == (6,)
    assert torch.isclose(
        per_image.mean(), torch.tensor(judge.score(images, maps, model=segmenter)["pixel_accuracy"])
    )
    assert per_image[2] < per_image[[0, 1, 3, 4, 5]].min()  # the noise picture, and only it, scores low
    with pytest.raises(ValueError, match="one map per image"):
        judge.pixel_agreement(images, maps[:3], model=segmenter)


def test_features_put_real_renders_closer_to_each_other_than_to_blurred_or_noisy_ones(segmenter):
    from minidiff.metrics import frechet_distance

    a, _ = scenes.sample(96, 32, generator=_seed(11))
    b, _ = scenes.sample(96, 32, generator=_seed(12))
    feats = judge.features(a, model=segmenter)
    assert feats.shape == (96, 11 * judge.CONFIG["channels"]) and torch.isfinite(feats).all()
    real = frechet_distance(feats, judge.features(b, model=segmenter))
    blurred = frechet_distance(
        feats, judge.features(torch.nn.functional.avg_pool2d(b, 3, 1, 1), model=segmenter)
    )
    noise = frechet_distance(
        feats, judge.features(torch.rand(b.shape, generator=_seed(13)) * 2 - 1, model=segmenter)
    )
    assert real < blurred < noise, (real, blurred, noise)
    with pytest.raises(ValueError, match="expected images"):
        judge.features(a[0], model=segmenter)


def test_fit_starts_from_weights_set_by_its_seed_alone():
    torch.manual_seed(1)
    a = judge.fit(0, seed=3, progress=False, device="cpu")
    torch.manual_seed(2)
    b = judge.fit(0, seed=3, progress=False, device="cpu")
    c = judge.fit(0, seed=4, progress=False, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_recipe_is_registered():
    assert judge.RECIPE.name == "scenes-judge" and judge.RECIPE.ruler
    assert judge.RECIPE.data_version == scenes.DATA_VERSION
    assert isinstance(judge.RECIPE.build(judge.CONFIG), judge.Segmenter)


def test_patch_features_are_one_vector_per_4x4_patch_in_row_major_order(segmenter):
    images, _ = scenes.sample(2, 32, generator=_seed(14))
    feats = judge.patch_features(images, model=segmenter)
    assert feats.shape == (2, 64, 4 * judge.CONFIG["channels"])
    with torch.no_grad():
        deepest = segmenter.eval().encode(images)[-1]  # (2, 4C, 8, 8)
    assert torch.allclose(feats[:, 8 * 3 + 5], deepest[:, :, 3, 5])  # token 29 = row 3, column 5


def test_check_maps_takes_what_sample_returns_and_says_what_to_change_otherwise():
    _, maps = scenes.sample(2, 16, generator=_seed(11))
    assert scenes.check_maps(maps, batch=2, size=(16, 16)) is maps
    soft = maps * 0.5 + 0.5 / len(scenes.CLASSES)  # probabilities: fine for a painter, not for a judge
    assert scenes.check_maps(soft, one_hot=False) is soft
    for bad, kwargs, message in [
        (soft, {}, "not one-hot"),
        (maps.long(), {}, r"call .float\(\)"),
        (maps.argmax(1), {}, r"F.one_hot\(labels, 8\)"),
        (maps, {"batch": 3}, "3 images but 2 maps"),
        (maps, {"size": (32, 32)}, r"expected \(B, 8, 32, 32\), got \(2, 8, 16, 16\)"),
        (maps * 2, {"one_hot": False}, r"in \[0, 1\]"),
        (maps.masked_fill(maps > 0, float("nan")), {"one_hot": False}, "finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            scenes.check_maps(bad, **kwargs)
