"""The chapter-09 check passes on the reference (DiT.map_tokens) and names typical mistakes."""

from __future__ import annotations

import pytest

from minidiff import checks
from minidiff.layers import patchify


def reference(model, maps):
    return model.map_embed(patchify(maps, model.cfg.patch))


def patches_only(model, maps):
    return patchify(maps, model.cfg.patch)


def plain_reshape(model, maps):
    return model.map_embed(maps.reshape(len(maps), model.cfg.tokens, -1))


def channels_last(model, maps):  # every pixel a token: (B, H*W, K) cannot go through map_embed
    return model.map_embed(maps.flatten(2).transpose(1, 2))


def test_the_reference_passes(capsys):
    checks.check_map_tokens(reference)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize(
    ("broken", "hint"),
    [
        (patches_only, "embed them into the token width"),
        (plain_reshape, "a plain reshape mixes pixels"),
        (channels_last, "mat1 and mat2|cut the map into P×P patches"),
    ],
)
def test_typical_mistakes_are_named(broken, hint):
    with pytest.raises((AssertionError, RuntimeError), match=hint):
        checks.check_map_tokens(broken)
