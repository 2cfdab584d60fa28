"""One rule for every data sampler: without a generator it is seeded with 0; a generator decides the draw."""

from __future__ import annotations

import pytest
import torch

from minidiff.data import emoji, scenes, shapes, toy2d

SAMPLERS = {
    "toy2d": lambda **kw: (toy2d.sample("moons", 64, **kw),),
    "shapes": lambda **kw: shapes.sample(8, 16, **kw)[:1],
    "scenes": lambda **kw: scenes.sample(4, 16, **kw),
    "emoji": lambda **kw: emoji.sample(8, 16, **kw)[:1],
}


@pytest.mark.parametrize("name", SAMPLERS)
def test_no_generator_means_seed_zero(name):
    draw = SAMPLERS[name]
    if name == "emoji":
        try:
            emoji.find_font()
        except FileNotFoundError:
            pytest.skip("no emoji font here")
    same = draw()
    assert all(torch.equal(a, b) for a, b in zip(same, draw())), "the same call gives the same data"
    seeded = draw(generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(same, seeded)), "no generator = seed 0"
    other = draw(generator=torch.Generator().manual_seed(1))
    assert not all(torch.equal(a, b) for a, b in zip(same, other)), "another seed, another draw"
