"""The drawing-to-image recipe: its training loss written out (x-prediction, v-loss, the map per token, maps
dropped for guidance), painting from maps, clear errors on bad maps, and a quick zoo round trip."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from ldm_home import seeded, use

from minidiff import zoo
from minidiff.data import scenes
from minidiff.recipes import drawing


@pytest.fixture(scope="module")
def model():
    """An untrained drawing DiT with every weight perturbed (its zero-initialised layers would output 0)."""
    torch.manual_seed(0)
    model = drawing.DiT(drawing.config())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model.eval()


def test_the_loss_is_x_prediction_with_the_v_loss_told_the_map(model):
    x, maps = scenes.sample(3, 32, generator=torch.Generator().manual_seed(0))
    t, noise = torch.tensor([0.1, 0.5, 0.9]), torch.randn(3, 3, 32, 32)
    loss, _ = drawing.loss_fn(model, (x, maps), p_drop=0.0, t=t, noise=noise)
    s = t.view(-1, 1, 1, 1)
    with torch.no_grad():
        xt = s * x + (1 - s) * noise
        v_pred = (model(xt, t, maps=maps) - xt) / (1 - s)  # the velocity the clean-image prediction implies
        want = (v_pred - (x - noise)).square().mean(dim=(1, 2, 3))
    torch.testing.assert_close(loss.detach(), want)
    dropped, _ = drawing.loss_fn(model, (x, maps), p_drop=1.0, t=t, noise=noise)  # every map dropped
    with torch.no_grad():
        v_null = (model(xt, t, maps=torch.zeros_like(maps)) - xt) / (1 - s)
        torch.testing.assert_close(dropped.detach(), (v_null - (x - noise)).square().mean(dim=(1, 2, 3)))


def test_paint_follows_heun_on_the_map_and_guidance_mixes_with_no_map(model):
    _, maps = scenes.sample(2, 32, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    images = drawing.paint(model, maps, steps=3, noise=noise)
    assert images.shape == (2, 3, 32, 32) and images.min() >= -1 and images.max() <= 1
    plain = drawing.flow.heun(lambda xt, t: model(xt, t, maps=maps), noise, 3, pred="x").clamp(-1, 1)
    torch.testing.assert_close(images, plain)
    assert torch.equal(
        drawing.paint(model, maps, steps=3, seed=5), drawing.paint(model, maps, steps=3, seed=5)
    )

    def mixed(xt, t):  # classifier-free guidance at scale 2, written out
        return 2 * model(xt, t, maps=maps) - model(xt, t, maps=torch.zeros_like(maps))

    guided = drawing.flow.heun(mixed, noise, 3, pred="x").clamp(-1, 1)
    torch.testing.assert_close(drawing.paint(model, maps, steps=3, noise=noise, scale=2.0), guided)


def test_bad_maps_say_what_to_do(model):
    _, maps = scenes.sample(2, 32)
    labels = maps.argmax(1)
    for bad, message in [
        (labels, r"F.one_hot\(labels, 8\)"),  # class indices instead of one channel per class
        (maps[:, :5], r"expected \(B, 8, 32, 32\)"),
        (F.interpolate(maps, size=16), r"expected \(B, 8, 32, 32\)"),
        (maps.long(), r"call .float\(\)"),
        (maps * 255, r"in \[0, 1\]"),
        (maps.masked_fill(maps > 0, float("nan")), "finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            drawing.paint(model, bad, steps=1)


def test_hand_made_maps_from_class_indices_work(model):
    labels = torch.full((1, 32, 32), scenes.CLASSES.index("sky"))
    labels[:, 20:] = scenes.CLASSES.index("water")
    maps = F.one_hot(labels, len(scenes.CLASSES)).permute(0, 3, 1, 2).float()
    assert drawing.paint(model, maps, steps=2).shape == (1, 3, 32, 32)


def test_the_quick_recipe_trains_stores_and_reloads(tmp_path, monkeypatch):
    use(seeded(tmp_path / "home"), monkeypatch)
    trained = drawing.RECIPE.load(budget="quick")
    info = zoo.info(drawing.RECIPE, budget="quick")
    metrics = info["metrics"]
    assert info["steps"] == drawing.SETTINGS["quick"]["steps"]
    assert metrics["real"]["pixel_accuracy"] > 0.95 and 0 < metrics["chance"]["pixel_accuracy"] < 0.7
    assert 0 <= metrics["scale_1"]["pixel_accuracy"] <= 1 and metrics["cpu_seconds_per_image"] > 0
    again = drawing.RECIPE.load(budget="quick")  # from the cache this time
    for (name, a), (_, b) in zip(trained.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
