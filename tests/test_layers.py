"""minidiff.layers against independent references: hand formulas, torch's MultiheadAttention, round trips."""

from __future__ import annotations

import math

import pytest
import torch

from minidiff import layers


def test_timestep_embedding_matches_hand_formula():
    t = torch.tensor([0.0, 0.25, 1.0])
    dim = 6
    got = layers.timestep_embedding(t, dim)
    assert got.shape == (3, dim)
    for b, time in enumerate(t.tolist()):
        for i in range(dim // 2):
            freq = 10_000 ** (-i / (dim // 2))
            assert got[b, i].item() == pytest.approx(math.cos(1000 * time * freq), abs=1e-4)
            assert got[b, dim // 2 + i].item() == pytest.approx(math.sin(1000 * time * freq), abs=1e-4)


def test_timestep_embedding_odd_dim_and_errors():
    emb = layers.timestep_embedding(torch.rand(4), 7)
    assert emb.shape == (4, 7) and torch.all(emb[:, -1] == 0)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        layers.timestep_embedding(torch.rand(4, 1), 8)


def test_timestep_embedder_shapes():
    assert layers.TimestepEmbedder(16)(torch.rand(5)).shape == (5, 16)
    embedder = layers.TimestepEmbedder(16, hidden=64)
    assert embedder.mlp[0].out_features == 64 and embedder(torch.rand(2)).shape == (2, 16)


def test_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    dim, heads = 16, 4
    ours = layers.Attention(dim, heads)
    ref = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.to_q.weight, ours.to_k.weight, ours.to_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.to_q.bias, ours.to_k.bias, ours.to_v.bias]))
        ref.out_proj.weight.copy_(ours.to_out.weight)
        ref.out_proj.bias.copy_(ours.to_out.bias)
    x = torch.randn(2, 5, dim)
    want, _ = ref(x, x, x, need_weights=False)
    torch.testing.assert_close(ours(x), want, atol=1e-5, rtol=1e-4)


def test_cross_attention_matches_naive_softmax():
    torch.manual_seed(0)
    dim, heads, context_dim = 8, 2, 6
    attn = layers.Attention(dim, heads, context_dim=context_dim)
    x, context = torch.randn(3, 4, dim), torch.randn(3, 7, context_dim)
    q, k, v = attn.to_q(x), attn.to_k(context), attn.to_v(context)
    d = dim // heads
    outs = []
    for h in range(heads):  # one head at a time: softmax(Q K^T / sqrt(d)) V
        sl = slice(h * d, (h + 1) * d)
        weights = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(d), dim=-1)
        outs.append(weights @ v[..., sl])
    want = attn.to_out(torch.cat(outs, dim=-1))
    torch.testing.assert_close(attn(x, context), want, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="context"):
        attn(x)
    with pytest.raises(ValueError, match="divisible"):
        layers.Attention(10, 3)


def test_mlp_and_modulate():
    mlp = layers.MLP(8, 32)
    assert mlp(torch.randn(2, 3, 8)).shape == (2, 3, 8)
    x = torch.randn(2, 3, 4)
    shift, scale = torch.randn(2, 4), torch.randn(2, 4)
    got = layers.modulate(x, shift, scale)
    torch.testing.assert_close(got[1, 2], x[1, 2] * (1 + scale[1]) + shift[1])
    torch.testing.assert_close(layers.modulate(x, torch.zeros(2, 4), torch.zeros(2, 4)), x)


def test_patchify_round_trip_and_layout():
    x = torch.randn(2, 3, 8, 12)
    tokens = layers.patchify(x, 4)
    assert tokens.shape == (2, 2 * 3, 4 * 4 * 3)
    # token 1 is the second patch of the first row; its features are the patch's pixels in (p q C) order
    torch.testing.assert_close(tokens[0, 1], x[0, :, 0:4, 4:8].permute(1, 2, 0).reshape(-1))
    torch.testing.assert_close(layers.unpatchify(tokens, 4, 8, 12), x)
    with pytest.raises(ValueError, match="divisible"):
        layers.patchify(x, 5)
    with pytest.raises(ValueError, match="tokens"):
        layers.unpatchify(tokens, 4, 8, 8)


def test_sincos_2d_shape_and_values():
    dim, grid = 8, 3
    emb = layers.sincos_2d(dim, grid)
    assert emb.shape == (grid * grid, dim) and emb.dtype == torch.float32
    token = 1 * grid + 2  # row 1, column 2
    freqs = [10_000 ** (-i / 2) for i in range(2)]
    want_row = [math.sin(1 * f) for f in freqs] + [math.cos(1 * f) for f in freqs]
    want_col = [math.sin(2 * f) for f in freqs] + [math.cos(2 * f) for f in freqs]
    torch.testing.assert_close(emb[token], torch.tensor(want_row + want_col))
    assert len({tuple(row) for row in emb.tolist()}) == grid * grid  # every position is distinct
    with pytest.raises(ValueError, match="divisible by 4"):
        layers.sincos_2d(6, 2)


def _perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    return module


def test_mlp_is_linear_tanh_gelu_linear():
    # GELU's tanh approximation written out (Hendrycks & Gimpel 2016, eq. 2), not torch's function
    mlp = _perturbed(layers.MLP(4, 8).double())
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    h = x @ mlp.fc1.weight.T + mlp.fc1.bias
    gelu = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    torch.testing.assert_close(mlp(x), gelu @ mlp.fc2.weight.T + mlp.fc2.bias, rtol=1e-12, atol=1e-12)


def test_timestep_embedder_is_sinusoid_linear_silu_linear():
    embedder = _perturbed(layers.TimestepEmbedder(6, hidden=10))
    t = torch.tensor([0.0, 0.3, 1.0])
    freqs = torch.tensor([10_000 ** (-i / 3) for i in range(3)], dtype=torch.float64)
    args = 1000 * t.double()[:, None] * freqs
    features = torch.cat([args.cos(), args.sin()], dim=1)  # [cos | sin], as in the docstring
    w1, b1, w2, b2 = (p.detach().double() for p in embedder.mlp.parameters())
    h = features @ w1.T + b1
    want = (h * torch.sigmoid(h)) @ w2.T + b2  # SiLU(h) = h * sigmoid(h)
    torch.testing.assert_close(embedder(t).double(), want, rtol=1e-4, atol=1e-4)
