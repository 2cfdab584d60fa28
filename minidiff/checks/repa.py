"""Checks for chapter 11 (REPA): the alignment, each token's cosine with its own patch's features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from minidiff import repa
from minidiff.checks.core import assert_close, close, learner_code, passed


@learner_code
def check_alignment(fn) -> None:
    """``fn(projected (B, T, E), features (B, T, E)) -> (B,)``: per image, the cosine similarity of each
    token with its patch's features, averaged over the tokens."""
    generator = torch.Generator().manual_seed(0)
    projected = torch.randn(3, 5, 4, generator=generator)
    features = torch.randn(3, 5, 4, generator=generator) + 0.5 * projected
    features[:, 0] *= 10  # one patch with large features: a plain dot product would be dominated by it
    with torch.no_grad():
        got = fn(projected, features)
        want = repa.alignment(projected, features)
    if isinstance(got, torch.Tensor) and got.ndim == 0:
        raise AssertionError("got one number for the batch: return one alignment per image (B,), the mean "
                             "over the tokens only")  # fmt: skip
    if not isinstance(got, torch.Tensor) or got.shape != (3,):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(f"expected one alignment per image (B,) = (3,), got {shape}: take the cosine "
                             "over the feature dimension (dim=-1), then the mean over the tokens "
                             "(dim=1)")  # fmt: skip
    if close(got, -want):
        raise AssertionError("the sign is flipped: return the similarity (higher is better); the loss "
                             "subtracts it")  # fmt: skip
    if close(got, (projected * features).sum(-1).mean(1)):
        raise AssertionError("this is the dot product: divide by both vectors' lengths (cosine similarity), "
                             "so that a patch with large features does not outweigh the others")  # fmt: skip
    if close(got, F.cosine_similarity(projected.flatten(1), features.flatten(1), dim=1)):
        raise AssertionError("this is one cosine between whole images: compare each token with its own "
                             "patch (dim=-1), then average over the tokens")  # fmt: skip
    assert_close(got, want, "the alignment")
    passed("one alignment per image: each token's cosine with its own patch, averaged over the tokens")
    scaled = fn(3 * projected, 0.1 * features)
    if not close(scaled, want):
        raise AssertionError("the alignment changed when the vectors were rescaled: it must depend only on "
                             "their directions")  # fmt: skip
    passed("it depends on directions only: rescaling either side changes nothing")
