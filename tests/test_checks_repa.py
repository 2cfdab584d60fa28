"""The chapter-11 check passes on the reference (repa.alignment) and names typical mistakes."""

from __future__ import annotations

import pytest
import torch.nn.functional as F

from minidiff import checks


def reference(projected, features):
    return F.cosine_similarity(projected, features, dim=-1).mean(1)


def one_number(projected, features):
    return F.cosine_similarity(projected, features, dim=-1).mean()


def negative(projected, features):
    return -reference(projected, features)


def dot_product(projected, features):
    return (projected * features).sum(-1).mean(1)


def whole_images(projected, features):
    return F.cosine_similarity(projected.flatten(1), features.flatten(1), dim=1)


def over_tokens(projected, features):  # cosine along the token axis: one per feature channel
    return F.cosine_similarity(projected, features, dim=1)


@pytest.mark.parametrize(
    ("broken", "hint"),
    [
        (one_number, "one number for the batch"),
        (negative, "sign is flipped"),
        (dot_product, "dot product"),
        (whole_images, "one cosine between whole images"),
        (over_tokens, "expected one alignment per image"),
    ],
)
def test_typical_mistakes_are_named(broken, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_alignment(broken)


def test_the_reference_passes(capsys):
    checks.check_alignment(reference)
    assert capsys.readouterr().out.count("✓") == 2
