"""repa.py: the projector is the only new weight, the dense prediction is untouched, the alignment is the
cosine similarity written out, the loss is flow loss minus weight × alignment, and TREAD's kept tokens are
aligned with their own patches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minidiff import flow, repa, tread
from minidiff.checks.core import perturbed
from minidiff.dit import DiT, DiTConfig
from minidiff.train import TrainConfig, train


def make(depth=4, block=2, features=6):
    torch.manual_seed(0)
    model = DiT(DiTConfig(image_size=16, patch=4, width=32, depth=depth, heads=4))
    return perturbed(repa.Aligned(model, features=features, block=block, hidden=16), std=0.05)


def test_the_projector_is_the_only_new_weight_and_the_prediction_is_the_dits():
    aligned = make()
    dit = sum(p.numel() for p in aligned.model.parameters())
    projector = sum(p.numel() for p in aligned.projector.parameters())
    assert sum(p.numel() for p in aligned.parameters()) == dit + projector
    assert projector == (32 * 16 + 16) + (16 * 16 + 16) + (16 * 6 + 6)
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    assert torch.equal(aligned(x, t), aligned.model(x, t))
    out, projected, index = repa.forward(aligned, x, t)
    assert torch.allclose(out, aligned.model(x, t), atol=1e-6) and index is None
    assert projected.shape == (2, 16, 6)


def test_the_projected_tokens_are_those_after_block_k():
    aligned = make(block=3)
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    tokens, c = aligned.model.inputs(x, t)
    for block in aligned.model.blocks[:3]:
        tokens = block(tokens, c)
    _, projected, _ = repa.forward(aligned, x, t)
    assert torch.allclose(projected, aligned.projector(tokens), atol=1e-6)


def test_alignment_is_the_mean_cosine_similarity_over_tokens():
    a, b = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    want = torch.stack([torch.stack([F.cosine_similarity(a[i, j], b[i, j], dim=0) for j in range(5)]).mean()
                        for i in range(3)])  # fmt: skip
    assert torch.allclose(repa.alignment(a, b), want, atol=1e-6)
    assert torch.allclose(repa.alignment(a, 2 * a), torch.ones(3), atol=1e-6)
    with pytest.raises(ValueError, match="one feature vector"):
        repa.alignment(a, b[:, :4])


def test_the_loss_is_the_flow_loss_minus_weight_times_alignment():
    aligned = make()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    features = torch.randn(2, 16, 6)
    torch.manual_seed(5)
    total, t, similarity = repa.loss(aligned, x, features, weight=0.7, pred="x")
    torch.manual_seed(5)
    flow_part, t_again = flow.flow_loss(aligned.model, x, pred="x")
    assert torch.equal(t, t_again)
    assert similarity.shape == (2,) and not similarity.requires_grad
    assert torch.allclose(total, flow_part - 0.7 * similarity, atol=1e-5)
    with pytest.raises(ValueError, match="no_grad"):
        repa.loss(aligned, x, features.requires_grad_())


def test_training_raises_the_alignment_and_trains_the_projector():
    torch.manual_seed(0)
    aligned = repa.Aligned(DiT(DiTConfig(image_size=16, patch=4, width=32, depth=4, heads=4)), 6, 2, 32)
    teacher = torch.nn.Conv2d(3, 6, 4, stride=4)  # a fixed "encoder": one feature vector per 4×4 patch

    def features(x):
        with torch.no_grad():
            return teacher(x).flatten(2).transpose(1, 2)  # (B, 16, 6), row-major like the DiT's tokens

    log = []

    def loss_fn(model, x):
        total, t, similarity = repa.loss(model, x, features(x), pred="x")
        log.append(similarity.mean().item())
        return total, t

    data = lambda n, g: torch.rand(n, 3, 16, 16, generator=g) * 2 - 1  # noqa: E731
    train(
        aligned, loss_fn, data, TrainConfig(steps=60, batch_size=8, lr=3e-3, progress=False, ema_decay=None)
    )
    assert sum(log[-10:]) / 10 > sum(log[:5]) / 5 + 0.15, (log[:5], log[-10:])  # measured: 0.00 → 0.26


def test_with_tread_a_routed_block_aligns_its_kept_tokens_with_their_own_patches():
    aligned = make(depth=4, block=2)
    x, t = torch.randn(3, 3, 16, 16), torch.rand(3)
    route = tread.Route(1, 3, 0.5)
    out, projected, index = repa.forward(
        aligned, x, t, route=route, generator=torch.Generator().manual_seed(1)
    )
    assert index.shape == (3, 8) and projected.shape == (3, 8, 6)
    want = tread.forward(aligned.model, x, t, route=route, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out, want, atol=1e-5)  # the same routed prediction
    tokens, c = aligned.model.inputs(x, t)
    h = tread.gather(aligned.model.blocks[0](tokens, c), index)
    assert torch.allclose(projected, aligned.projector(aligned.model.blocks[1](h, c)), atol=1e-5)
    _, full, no_index = repa.forward(aligned, x, t, route=tread.Route(1, 2))  # block 2 is after the route
    assert no_index is None and full.shape == (3, 16, 6)


def test_clear_errors():
    model = DiT(DiTConfig(image_size=16, patch=4, width=32, depth=4, heads=4))
    with pytest.raises(ValueError, match="1..4"):
        repa.Aligned(model, 6, block=5)


def test_standardize_centres_and_scales_each_channel_by_the_reference():
    reference = torch.randn(10, 4, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([2.0, -1.0, 7.0])
    out = repa.standardize(reference, reference)
    assert torch.allclose(out.mean((0, 1)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std((0, 1)), torch.ones(3), atol=1e-5)
    shifted = torch.rand(50, 8, 6) + 3  # all positive: every pair of vectors points the same way
    pairs = F.cosine_similarity(shifted[:25], shifted[25:], dim=-1).mean()
    centred = repa.standardize(shifted, shifted)
    assert pairs > 0.9 and F.cosine_similarity(centred[:25], centred[25:], dim=-1).mean().abs() < 0.1
