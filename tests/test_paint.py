"""The paint canvas's Python side: maps in and out of its flat labels, refused labels, and the studio's button
painting the drawn map (the JavaScript is tried in a real JupyterLab: tools/try_paint.py)."""

from __future__ import annotations

import io

import pytest
import torch
import traitlets
from PIL import Image

from minidiff.data import scenes
from minidiff.paint import Paint, labels_of, png, studio


def test_a_map_goes_onto_the_canvas_and_comes_back_one_hot():
    _, maps = scenes.sample(1, 32, generator=torch.Generator().manual_seed(0))
    canvas = Paint(start=maps)
    assert len(canvas.labels) == 32 * 32 and canvas.names == scenes.CLASSES
    assert torch.equal(canvas.maps(), maps)
    other = scenes.sample(1, 32, generator=torch.Generator().manual_seed(1))[1]
    canvas.set_map(other[0].argmax(0))  # class indices (H, W) work too
    assert torch.equal(canvas.maps(), other)


def test_the_default_drawing_is_sky_above_grass_and_the_brush_paints_water():
    canvas = Paint()
    labels = torch.tensor(canvas.labels).view(32, 32)
    assert (labels[0] == scenes.CLASSES.index("sky")).all() and (
        labels[-1] == scenes.CLASSES.index("grass")
    ).all()
    assert canvas.current == scenes.CLASSES.index("water")
    assert [list(c) for c in scenes.PALETTE.values()] == canvas.colors


def test_bad_labels_and_maps_are_refused():
    canvas = Paint()
    with pytest.raises(traitlets.TraitError, match="32\\*32 class indices"):
        canvas.labels = [0] * 10
    with pytest.raises(traitlets.TraitError, match="in 0..7"):
        canvas.labels = [9] * 32 * 32
    with pytest.raises(ValueError, match="one map"):
        labels_of(torch.zeros(2, 8, 32, 32))
    with pytest.raises(ValueError, match=r"expected a map \(1, K, H, W\)"):
        labels_of(torch.zeros(8, 32, 32))


def test_the_studio_paints_what_was_drawn_and_shows_errors():
    seen = []

    def paint_fn(maps):
        seen.append(maps)
        return maps[:, :3] * 2 - 1  # any image (1, 3, H, W) in [-1, 1]

    box = studio(paint_fn)
    box.canvas.labels = [scenes.CLASSES.index("rock")] * 32 * 32
    box.button.click()
    assert torch.equal(seen[-1], box.canvas.maps())
    picture = Image.open(io.BytesIO(box.picture.value))
    assert picture.size == (320, 320) and box.status.value.startswith("done")

    def broken(maps):
        raise ValueError("no model yet")

    failing = studio(broken)
    failing.button.click()
    assert failing.status.value == "error: no model yet"


def test_png_enlarges_without_blurring():
    image = torch.tensor([[[-1.0, 1.0]], [[-1.0, 1.0]], [[-1.0, 1.0]]])  # (3, 1, 2): black, white
    picture = Image.open(io.BytesIO(png(image, scale=4)))
    assert picture.size == (8, 4)
    assert picture.getpixel((3, 0)) == (0, 0, 0) and picture.getpixel((4, 0)) == (255, 255, 255)
