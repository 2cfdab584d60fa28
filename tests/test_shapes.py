"""data.shapes (drawing, captions, labels) and judges.shapes (reading them back), on tiny CPU batches."""

from __future__ import annotations

import itertools

import pytest
import torch

from minidiff.data import shapes
from minidiff.judges import shapes as judge


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))


def _seed(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("size", [16, 24, 32, 64, 128])
def test_sample_shapes_and_range(size):
    images, captions, labels = shapes.sample(6, size, generator=_seed(0))
    assert images.shape == (6, 3, size, size) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert len(captions) == len(labels) == 6
    corner = images[:, :, 0, 0]  # a corner always shows the plain background
    assert torch.allclose(corner, torch.tensor(shapes.BACKGROUND) / 127.5 - 1)


def test_same_seed_same_images_and_other_seed_differs():
    a = shapes.sample(8, 32, generator=_seed(3))
    b = shapes.sample(8, 32, generator=_seed(3))
    c = shapes.sample(8, 32, generator=_seed(4))
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    assert not torch.equal(a[0], c[0])
    assert torch.equal(shapes.sample(2)[0], shapes.sample(2)[0])  # no generator: a fixed default


def test_captions_match_labels():
    _, captions, labels = shapes.sample(200, 32, generator=_seed(1))
    for text, objs in zip(captions, labels):
        parts = text.split(" and ")
        assert len(parts) == len(objs)
        for part, obj in zip(parts, objs):
            assert part == f"a {obj['size']} {obj['colour']} {obj['shape']} at the {obj['position']}"
            assert obj["shape"] in shapes.SHAPES and obj["colour"] in shapes.COLOURS
            assert obj["size"] in shapes.SIZES and obj["position"] in shapes.POSITIONS
            # the named position is the grid cell that holds the centre
            col, row = int(obj["cx"] * 3), int(obj["cy"] * 3)
            assert shapes.POSITIONS[3 * row + col] == obj["position"]
    seen = {(o["shape"], o["colour"]) for objs in labels for o in objs}
    assert len(seen) > 30  # all attributes are drawn, in many combinations


@pytest.mark.parametrize("objects", [(1,), (2,), (3,), (1, 2)])
def test_object_counts(objects):
    _, _, labels = shapes.sample(50, 32, generator=_seed(2), objects=objects)
    assert {len(objs) for objs in labels} == set(objects)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="objects"):
        shapes.sample(2, objects=(0,))
    with pytest.raises(ValueError, match="objects"):
        shapes.sample(2, objects=(10,))
    with pytest.raises(ValueError, match="size"):
        shapes.sample(2, size=4)
    with pytest.raises(ValueError, match="unknown shape"):
        shapes.draw("hexagon", 0.5, 0.5, 0.1, 16)


@pytest.mark.parametrize("size", [32, 64])
def test_objects_never_overlap_and_stay_in_their_cell(size):
    images, _, labels = shapes.sample(100, size, generator=_seed(5), objects=(2, 3))
    for objs in labels:
        cover = [shapes.draw(o["shape"], o["cx"], o["cy"], o["radius"], size)[0] for o in objs]
        for a, b in itertools.combinations(cover, 2):
            assert (a * b).sum() == 0  # not a single pixel is touched by two shapes
        for o, alpha in zip(objs, cover):
            row, col = divmod(shapes.POSITIONS.index(o["position"]), 3)
            ys, xs = torch.nonzero(alpha, as_tuple=True)
            assert xs.min() >= col * size // 3 - 1 and xs.max() <= (col + 1) * size // 3 + 1
            assert ys.min() >= row * size // 3 - 1 and ys.max() <= (row + 1) * size // 3 + 1


def test_draw_matches_the_analytic_area():
    # the soft edge integrates to the true area: pi r^2 for a circle, (1.7 r)^2 for the square
    size, r = 256, 0.2
    circle = shapes.draw("circle", 0.5, 0.5, r, size).sum() / size**2
    square = shapes.draw("square", 0.5, 0.5, r, size).sum() / size**2
    assert circle == pytest.approx(torch.pi * r**2, rel=2e-3)
    assert square == pytest.approx((1.7 * r) ** 2, rel=2e-3)


def test_palette_colours_are_distinguishable():
    colours = torch.tensor([*shapes.COLOURS.values(), shapes.BACKGROUND], dtype=torch.float32)
    distance = torch.cdist(colours, colours) + 1e3 * torch.eye(len(colours))
    assert distance.min() > 60  # 0-255 units
    assert len(shapes.SHAPES) >= 3 and len(shapes.COLOURS) >= 6


# ---- the judge -----------------------------------------------------------------------------------


def _flood_fill_regions(mask: torch.Tensor) -> set[frozenset]:
    """Reference: 8-connected regions of an (H, W) mask by breadth-first search, as sets of pixels."""
    H, W = mask.shape
    todo, regions = {(i, j) for i in range(H) for j in range(W) if mask[i, j]}, set()
    while todo:
        frontier, region = [todo.pop()], set()
        while frontier:
            i, j = frontier.pop()
            region.add((i, j))
            for di, dj in itertools.product((-1, 0, 1), repeat=2):
                if (i + di, j + dj) in todo:
                    todo.remove((i + di, j + dj))
                    frontier.append((i + di, j + dj))
        regions.add(frozenset(region))
    return regions


def test_label_regions_matches_flood_fill():
    masks = torch.rand(4, 14, 11, generator=_seed(0)) < 0.45
    ids = judge.label_regions(masks)
    for mask, labels in zip(masks, ids):
        found = {frozenset(map(tuple, torch.nonzero(labels == v).tolist())) for v in labels.unique() if v > 0}
        assert found == _flood_fill_regions(mask)


@pytest.mark.parametrize("size", [32, 64])
def test_judge_reads_real_images_perfectly(size):
    images, _, labels = shapes.sample(100, size, generator=_seed(size))
    result = judge.score(images, labels)
    assert min(result.values()) >= 0.97, result
    attributes = lambda objs: sorted(tuple(o[k] for k in judge.ATTRIBUTES) for o in objs)  # noqa: E731
    assert attributes(judge.read(images[:1])[0]) == attributes(labels[0])


def test_judge_survives_mild_noise():
    images, _, labels = shapes.sample(100, 32, generator=_seed(7))
    noisy = (images + 0.1 * torch.randn(images.shape, generator=_seed(8))).clamp(-1, 1)
    assert min(judge.score(noisy, labels).values()) >= 0.95


def test_judge_scores_noise_and_wrong_labels_at_chance():
    images, _, labels = shapes.sample(150, 32, generator=_seed(9))
    noise = torch.rand(images.shape, generator=_seed(10)) * 2 - 1
    result = judge.score(noise, labels)
    assert result["all"] == 0 and result["count"] <= judge.CHANCE["count"]
    for name in judge.ATTRIBUTES:
        assert result[name] <= judge.CHANCE[name] + 0.05, (name, result)
    # real images against another image's labels: count ~1/2, colour ~1/8, shape ~1/6, all ~0
    shuffled = judge.score(images, labels[1:] + labels[:1])
    assert shuffled["all"] < 0.05 and shuffled["colour"] < 0.3 and shuffled["shape"] < 0.35


def test_quality_of_unconditional_samples_real_vs_noise_vs_collapse():
    images = shapes.sample(300, 32, generator=_seed(12))[0]
    real = judge.quality(images)
    assert real["well_formed"] > 0.97 and real["shape_tv"] < 0.1 and real["colour_tv"] < 0.1
    noise = judge.quality(torch.rand(images.shape, generator=_seed(13)) * 2 - 1)
    assert {key: noise[key] for key in ("well_formed", "shape_tv", "colour_tv")} == {
        "well_formed": 0.0,
        "shape_tv": 1.0,
        "colour_tv": 1.0,
    }
    circles = shapes.draw("circle", [0.5] * 50, [0.5] * 50, [0.15] * 50, 32)  # one red circle, 50 times
    red = torch.tensor(shapes.COLOURS["red"]) / 255 * 2 - 1
    background = torch.tensor(shapes.BACKGROUND) / 255 * 2 - 1
    collapsed = background.view(1, 3, 1, 1) + circles[:, None] * (red - background).view(1, 3, 1, 1)
    result = judge.quality(collapsed)
    assert result["well_formed"] == 1.0 and result["shape_tv"] > 0.8 and result["colour_tv"] > 0.8


def test_judge_notices_one_wrong_attribute():
    images, _, labels = shapes.sample(20, 32, generator=_seed(11), objects=(1,))
    wrong = [[{**objs[0], "colour": "white" if objs[0]["colour"] != "white" else "red"}] for objs in labels]
    result = judge.score(images, wrong)
    assert result["colour"] == 0 and result["shape"] == 1 and result["all"] == 0


def test_judge_errors():
    with pytest.raises(ValueError, match="label lists"):
        judge.score(torch.zeros(2, 3, 32, 32), [[]])
    with pytest.raises(ValueError, match="square images"):
        judge.read(torch.zeros(2, 3, 32, 16))
    assert judge.read(torch.full((1, 3, 32, 32), -1.0)) == [[]]  # an empty (black) image has no objects
