"""The maps drawn in the paint canvas: well-formed text, one-hot like scenes' maps, and what each holds."""

from __future__ import annotations

import pytest
import torch

from minidiff.data import drawn, scenes


@pytest.mark.parametrize("name", list(drawn.DRAWN))
def test_each_drawn_map_is_32_rows_of_32_class_digits(name):
    rows = drawn.DRAWN[name].split()
    assert len(rows) == 32 and all(len(row) == 32 and set(row) <= set("01234567") for row in rows)
    maps = drawn.load(name)
    assert maps.shape == (1, len(scenes.CLASSES), 32, 32) and maps.dtype == torch.float32
    assert torch.equal(maps.sum(1), torch.ones(1, 32, 32))  # one class per cell


def test_the_maps_hold_what_was_drawn():
    held = {
        name: {scenes.CLASSES[k] for k in drawn.load(name).argmax(1).unique().tolist()}
        for name in drawn.DRAWN
    }
    assert held == {
        "lake": {"sky", "mountain", "water", "grass"},
        "beach": {"sky", "cloud", "water", "sand", "tree"},
        "hills": {"sky", "grass", "tree", "rock"},
    }
    maps, names = drawn.load_all()
    assert maps.shape[0] == 3 and names == ["lake", "beach", "hills"]


def test_an_unknown_name_says_which_exist():
    with pytest.raises(ValueError, match="lake, beach, hills"):
        drawn.load("forest")
