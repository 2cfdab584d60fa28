"""minidiff.data.toy2d: shapes, determinism, scale, the JiT embedding and the error for unknown names."""

from __future__ import annotations

import pytest
import torch

from minidiff.data import toy2d


@pytest.mark.parametrize("name", toy2d.NAMES)
def test_sample_shape_scale_and_determinism(name):
    points = toy2d.sample(name, 4000, generator=torch.Generator().manual_seed(0))
    assert points.shape == (4000, 2) and points.dtype == torch.float32 and torch.isfinite(points).all()
    assert points.mean(0).abs().max() < 0.1
    assert 0.9 < points.pow(2).mean().sqrt() < 1.1  # unit std on average over the two axes
    assert ((points.std(0) > 0.6) & (points.std(0) < 1.4)).all()  # and roughly on each
    again = toy2d.sample(name, 4000, generator=torch.Generator().manual_seed(0))
    other = toy2d.sample(name, 4000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(points, again) and not torch.equal(points, other)
    assert torch.equal(toy2d.sample(name, 10), toy2d.sample(name, 10))  # no generator: still deterministic


def test_expected_names_and_unknown_name():
    assert {"moons", "spirals", "checkerboard", "8gaussians", "rings"} <= set(toy2d.NAMES)
    assert toy2d.DATA_VERSION == "1"
    with pytest.raises(ValueError, match="moons, spirals"):
        toy2d.sample("circles", 10)


def test_embed_project_round_trip():
    x2d = toy2d.sample("spirals", 500)
    for dim in (2, 8, 512):
        high = toy2d.embed(x2d, dim)
        assert high.shape == (500, dim)
        torch.testing.assert_close(high.norm(dim=1), x2d.norm(dim=1))  # orthonormal columns keep lengths
        torch.testing.assert_close(toy2d.project(high), x2d, atol=1e-5, rtol=1e-5)
    assert torch.equal(toy2d.embed(x2d, 16, seed=3), toy2d.embed(x2d, 16, seed=3))
    assert not torch.allclose(toy2d.embed(x2d, 16, seed=3), toy2d.embed(x2d, 16))
    with pytest.raises(ValueError, match="dim >= 2"):
        toy2d.embed(x2d, 1)
