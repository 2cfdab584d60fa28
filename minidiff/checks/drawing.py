"""Checks for chapter 09 (drawing to image): a map cut into the same patches as the image, one token each."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from minidiff.checks.core import assert_close, close, learner_code, passed
from minidiff.dit import DiT, DiTConfig


def _model_and_maps() -> tuple[DiT, torch.Tensor]:
    """A small DiT with 5 map classes (its weights seeded) and two one-hot maps (B, 5, 16, 16)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DiT(DiTConfig(image_size=16, patch=4, width=32, depth=1, heads=4, map_channels=5)).eval()
    labels = torch.randint(5, (2, 16, 16), generator=torch.Generator().manual_seed(1))
    return model, F.one_hot(labels, 5).permute(0, 3, 1, 2).float()


@learner_code
def check_map_tokens(fn) -> None:
    """``fn(model, maps) -> (B, T, D)``: each P×P patch of the one-hot map, through ``model.map_embed``."""
    model, maps = _model_and_maps()
    B, T, D = len(maps), model.cfg.tokens, model.cfg.width
    with torch.no_grad():
        got = fn(model, maps)
        want = model.map_tokens(maps, torch.zeros(B, 3, 16, 16))
        patches_only = maps.reshape(B, 5, 4, 4, 4, 4).permute(0, 2, 4, 3, 5, 1).reshape(B, T, -1)
        plain_reshape = model.map_embed(maps.reshape(B, T, -1))
    if close(got, patches_only):
        raise AssertionError(
            "these are the map's patches: embed them into the token width with model.map_embed"
        )
    if not isinstance(got, torch.Tensor) or got.shape != (B, T, D):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(
            f"expected tokens (B, T, D) = {(B, T, D)}, got {shape}: cut the map into P×P patches with "
            "layers.patchify(maps, model.cfg.patch), then model.map_embed"
        )
    if close(got, plain_reshape):
        raise AssertionError("a plain reshape mixes pixels of different patches: cut the map exactly like "
                             "the image, with layers.patchify(maps, model.cfg.patch)")  # fmt: skip
    assert_close(got, want, "the map's tokens")
    passed(f"a map (B, K, H, W) becomes {T} tokens of width {D}, in the image's patch order")
    changed = maps.clone()
    changed[:, :, :4, :4] = changed[:, :, :4, :4].roll(1, dims=1)  # other classes in the first patch only
    with torch.no_grad():
        moved = (fn(model, changed) - got).abs().amax(-1)  # (B, T)
    if not (moved[:, 0] > 0).all() or moved[:, 1:].max() > 0:
        raise AssertionError("changing the top-left patch of the map must change the first token only")
    passed("each token sees only its own patch of the map")
