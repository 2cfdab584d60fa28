"""shapes.HELD_OUT and sample_split: training draws never hold a held-out colour × shape pair, tests do."""

from __future__ import annotations

import pytest
import torch

from minidiff.data import shapes


def test_held_out_pairs_are_real_colours_and_shapes_one_per_shape():
    assert all(colour in shapes.COLOURS and shape in shapes.SHAPES for colour, shape in shapes.HELD_OUT)
    assert sorted(shape for _, shape in shapes.HELD_OUT) == sorted(shapes.SHAPES)


@pytest.mark.parametrize("objects", [(1,), (1, 2)])
def test_sample_split_keeps_or_avoids_the_held_out_pairs(objects):
    g = torch.Generator().manual_seed(0)
    train_images, train_captions, train_labels = shapes.sample_split(100, 16, generator=g, objects=objects)
    test_images, test_captions, test_labels = shapes.sample_split(50, 16, held_out=True, generator=g,
                                                                  objects=objects)  # fmt: skip
    assert train_images.shape == (100, 3, 16, 16) and len(train_captions) == len(train_labels) == 100
    assert test_images.shape == (50, 3, 16, 16)
    assert not any(shapes.has_held_out(objs) for objs in train_labels)
    assert all(shapes.has_held_out(objs) for objs in test_labels)
    assert all(f"{c} {s}" not in caption for caption in train_captions for c, s in shapes.HELD_OUT)
    assert [shapes.caption(objs) for objs in test_labels] == test_captions


def test_sample_split_is_deterministic_and_leaves_sample_alone():
    first = shapes.sample_split(20, 16, generator=torch.Generator().manual_seed(3))
    again = shapes.sample_split(20, 16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first[0], again[0]) and first[1] == again[1]
    assert torch.equal(shapes.sample_split(8, 16)[0], shapes.sample_split(8, 16)[0])  # seed 0 by default
