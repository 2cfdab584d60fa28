"""The shapes judge's `quality()` rule: real renders pass at both sizes the course uses (16 and 32 px),
hand-made near-misses (a missing chunk, half a shape, two shapes run together, a shape that is not one of
the six) fail, and the counts and bootstrap spreads say what the numbers rest on."""

from __future__ import annotations

import math

import pytest
import torch

from minidiff.data import shapes
from minidiff.judges import shapes as judge


def _seed(n: int) -> torch.Generator:
    return torch.Generator().manual_seed(n)


def _paint(coverage: torch.Tensor, colour: str = "yellow") -> torch.Tensor:
    """One image (1, 3, H, W) in [-1, 1]: the colour over the background with this coverage (H, W)."""
    background = torch.tensor(shapes.BACKGROUND) / 127.5 - 1
    paint = torch.tensor(shapes.COLOURS[colour]) / 127.5 - 1
    return (background.view(3, 1, 1) + coverage[None] * (paint - background).view(3, 1, 1))[None]


def _near_misses(size: int, radius: float) -> dict[str, torch.Tensor]:
    """Objects that look almost like a shape but are none of the six, centred in the image."""
    c = 0.5
    x = ((torch.arange(size) + 0.5) / size).view(1, size)
    y = ((torch.arange(size) + 0.5) / size).view(size, 1)
    circle = shapes.draw("circle", c, c, radius, size)[0]
    square = shapes.draw("square", c, c, radius, size)[0]
    left = shapes.draw("circle", c - 0.6 * radius, c, 0.8 * radius, size)[0]
    right = shapes.draw("circle", c + 0.6 * radius, c, 0.8 * radius, size)[0]
    ellipse = (((x - c) / (1.4 * radius)) ** 2 + ((y - c) / (0.7 * radius)) ** 2).sqrt()
    return {
        "circle missing a quarter": circle * ~((x > c) & (y < c)),
        "square missing a quarter": square * ~((x > c) & (y < c)),
        "half a circle": circle * (y > c),
        "two circles run together": torch.maximum(left, right),
        "ellipse 2:1": (0.5 - (ellipse - 1) * 0.7 * radius * size).clamp(0, 1),
    }


@pytest.mark.parametrize("size", [16, 32])
def test_real_renders_are_well_formed_at_both_sizes(size):
    images = shapes.sample(500, size, generator=_seed(21))[0]
    assert judge.quality(images)["well_formed"] >= 0.99
    # the area-only rule it replaces (20 % of the area) rejected real small shapes at 16 px
    area_only = judge.quality(images, max_error=0.2, max_edge=0.0)["well_formed"]
    assert area_only < 0.95 if size == 16 else area_only == 1.0


@pytest.mark.parametrize(
    "size, radius",
    [(32, shapes.SIZES["small"]), (32, shapes.SIZES["large"]), (16, shapes.SIZES["large"])],
    ids=["32px-small", "32px-large", "16px-large"],
)
def test_near_misses_are_not_well_formed(size, radius):
    # (a small shape at 16 px covers ~5 pixels: a missing quarter is one pixel, below what any rule can see)
    for name, coverage in _near_misses(size, radius).items():
        result = judge.quality(_paint(coverage))
        assert result["well_formed"] == 0.0, (name, size, radius, judge.read(_paint(coverage)))


def test_specks_are_not_shapes():
    """A blob of a few pixels fits some shape loosely, but is smaller than anything the data draws.

    At 32 px only: at 16 px a small shape is itself ~5 pixels, and smaller specks are not read at all.
    """
    size = 32
    speck = torch.zeros(size, size)
    speck[5:7, 5:7] = 1.0  # 2x2 pixels
    dot = shapes.draw("circle", 0.5, 0.5, 0.5 * shapes.SIZES["small"], size)[0]  # half the smallest radius
    for coverage in (speck, dot):
        assert judge.read(_paint(coverage))[0], "the judge should still read it as an object"
        assert judge.quality(_paint(coverage))["well_formed"] == 0.0


@pytest.mark.parametrize("size", [16, 32])
def test_small_drawing_errors_are_forgiven(size):
    """A shape off-centre by a fraction of a pixel, or with uneven coverage inside, is still well formed."""
    images = []
    for i, name in enumerate(shapes.SHAPES):
        shifted = shapes.draw(name, 0.5 + 0.3 / size, 0.5 - 0.2 / size, shapes.SIZES["large"], size)[0]
        noise = 0.15 * torch.randn(shifted.shape, generator=_seed(i))
        images.append(_paint((shifted + noise * (shifted > 0)).clamp(0, 1)))
    assert judge.quality(torch.cat(images))["well_formed"] == 1.0


def test_outline_lengths_match_geometry():
    assert judge._unit_outline("circle") == pytest.approx(2 * math.pi, rel=0.01)
    assert judge._unit_outline("square") == pytest.approx(8 * 0.85, rel=0.03)  # corners are rounded a little
    seen = judge.read(_paint(shapes.draw("circle", 0.5, 0.5, 0.25, 32)[0]))[0][0]
    assert seen["outline"] == pytest.approx(2 * math.pi * 8, rel=0.05)  # radius 8 px
    assert seen["area"] == pytest.approx(math.pi * 64, rel=0.05)


def test_counts_and_bootstrap_spread():
    real = shapes.sample(60, 32, generator=_seed(22))[0]
    noise = torch.rand(real.shape, generator=_seed(23)) * 2 - 1
    mixed = judge.quality(torch.cat([real, noise]), bootstrap=50)
    assert mixed["images"] == 120 and mixed["well_formed_images"] == 60 and mixed["well_formed"] == 0.5
    # a binomial proportion of 0.5 over 120 images: std sqrt(0.25 / 120) = 0.046
    assert 0.03 < mixed["well_formed_std"] < 0.065
    assert mixed["shape_tv_std"] > 0 and mixed["colour_tv_std"] > 0
    assert judge.quality(real, bootstrap=20)["well_formed_std"] == 0.0
    assert "well_formed_std" not in judge.quality(real)  # no bootstrap unless asked
    assert judge.quality(real, bootstrap=20, seed=1) == judge.quality(real, bootstrap=20, seed=1)
