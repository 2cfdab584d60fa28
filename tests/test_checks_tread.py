"""The chapter-10 check passes on the reference (the routed pass written out) and names typical mistakes."""

from __future__ import annotations

import pytest

from minidiff import checks, tread


def reference(model, xt, t, index, start, end, rejoin=True):
    x, c = model.inputs(xt, t)
    for block in model.blocks[:start]:
        x = block(x, c)
    h = tread.gather(x, index)
    for block in model.blocks[start:end]:
        h = block(h, c)
    if rejoin:
        x = tread.scatter(x, h, index)
    for block in model.blocks[end:]:
        x = block(x, c)
    return model.outputs(x, c)


def dense(model, xt, t, index, start, end):
    return model(xt, t)


def never_rejoined(model, xt, t, index, start, end):
    return reference(model, xt, t, index, start, end, rejoin=False)


def only_kept(model, xt, t, index, start, end):  # drops the routed tokens: the output has too few patches
    x, c = model.inputs(xt, t)
    x = tread.gather(x, index)
    for block in model.blocks:
        x = block(x, c)
    return model.final(x, c)


def first_index_for_all(model, xt, t, index, start, end):
    return reference(model, xt, t, index[:1].expand(len(xt), -1), start, end)


def rejoin_late(model, xt, t, index, start, end):
    return reference(model, xt, t, index, start, end + 1)


def route_early(model, xt, t, index, start, end):
    return reference(model, xt, t, index, start - 1, end)


def masked_not_routed(model, xt, t, index, start, end):  # right numbers, no saving: all tokens run
    x, c = model.inputs(xt, t)
    for block in model.blocks[:start]:
        x = block(x, c)
    h = x
    for block in model.blocks[start:end]:
        h = block(h, c)
    kept = tread.gather(h, index)
    x = tread.scatter(x, kept, index)
    for block in model.blocks[end:]:
        x = block(x, c)
    return model.outputs(x, c)


def test_the_reference_passes(capsys):
    checks.check_routed_forward(reference)
    assert capsys.readouterr().out.count("✓") == 2


@pytest.mark.parametrize(
    ("broken", "hint"),
    [
        (dense, "this is the dense pass"),
        (never_rejoined, "the kept tokens' work is lost"),
        (only_kept, "expected a prediction shaped like xt"),
        (first_index_for_all, "every image used the first image's index"),
        (rejoin_late, "rejoin too late"),
        (route_early, "starts too early"),
        (masked_not_routed, "are not close|mismatch|differ"),
    ],
)
def test_typical_mistakes_are_named(broken, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_routed_forward(broken)
