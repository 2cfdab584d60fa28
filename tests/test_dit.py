"""dit.py: the adaLN-Zero start (identity blocks, output 0), a forward pass equal to the paper's equations
written out here, patches and positions in the right order, conditions, FLOP counts and clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minidiff.checks.core import perturbed
from minidiff.dit import PRESETS, DiT, DiTBlock, DiTConfig, gflops
from minidiff.layers import patchify, sincos_2d, timestep_embedding, unpatchify
from minidiff.unet import count_parameters


def small(**changes) -> DiTConfig:
    return DiTConfig(**{**dict(image_size=16, patch=4, width=32, depth=2, heads=4), **changes})


def test_adaln_zero_starts_every_block_as_the_identity_and_the_model_at_zero():
    torch.manual_seed(0)
    model = DiT(small())
    x, t = torch.randn(3, 3, 16, 16), torch.rand(3)
    assert torch.equal(model(x, t), torch.zeros_like(x))
    tokens, c = torch.randn(3, 16, 32), torch.randn(3, 32)
    for block in model.blocks:
        assert torch.equal(block(tokens, c), tokens)


def test_the_zero_start_still_learns():
    """At the first step only the final linear layer gets a gradient (everything after it is zero); the
    zeros open up one layer per step, and by the third step every parameter learns."""
    torch.manual_seed(0)
    model = DiT(small())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, t, target = torch.randn(4, 3, 16, 16), torch.rand(4), torch.randn(4, 3, 16, 16)
    for step in range(3):
        optimizer.zero_grad()
        F.mse_loss(model(x, t), target).backward()
        learning = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        if step == 0:
            assert learning == {"final.linear.weight", "final.linear.bias"}
        optimizer.step()
    assert learning == {n for n, _ in model.named_parameters()}


def reference_forward(model: DiT, x: torch.Tensor, t: torch.Tensor, maps=None) -> torch.Tensor:
    """DiT's forward from its equations, with the model's weights, written without its modules."""
    cfg, D = model.cfg, model.cfg.width
    P, G = cfg.patch, cfg.image_size // cfg.patch
    B = len(x)

    def patches(z):  # (B, C, H, W) -> (B, T, P*P*C), rows of patches, each patch row-major, channels last
        return z.reshape(B, z.shape[1], G, P, G, P).permute(0, 2, 4, 3, 5, 1).reshape(B, G * G, -1)

    h = patches(x) @ model.embed.weight.T + model.embed.bias + sincos_2d(D, G)
    if maps is not None:  # a map is embedded patch by patch into the same tokens
        h = h + patches(maps) @ model.map_embed.weight.T + model.map_embed.bias
    lin1, lin2 = model.time.mlp[0], model.time.mlp[2]
    c = F.silu(timestep_embedding(t, D) @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias

    def layer_norm(z):
        return (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-6)

    for block in model.blocks:
        ada = F.silu(c) @ block.ada[1].weight.T + block.ada[1].bias
        s1, sc1, g1, s2, sc2, g2 = (ada[:, None, i * D : (i + 1) * D] for i in range(6))
        z = layer_norm(h) * (1 + sc1) + s1
        a, heads = block.attn, block.attn.heads
        q, k, v = (
            (z @ m.weight.T + m.bias).reshape(B, -1, heads, D // heads).transpose(1, 2)  # (B, heads, T, d)
            for m in (a.to_q, a.to_k, a.to_v)
        )
        w = torch.softmax(q @ k.transpose(-1, -2) / (D // heads) ** 0.5, dim=-1)
        att = (w @ v).transpose(1, 2).reshape(B, -1, D) @ a.to_out.weight.T + a.to_out.bias
        h = h + g1 * att
        z = layer_norm(h) * (1 + sc2) + s2
        m = block.mlp
        h = h + g2 * (
            F.gelu(z @ m.fc1.weight.T + m.fc1.bias, approximate="tanh") @ m.fc2.weight.T + m.fc2.bias
        )
    f = model.final
    shift, scale = (F.silu(c) @ f.ada[1].weight.T + f.ada[1].bias).chunk(2, dim=-1)
    out = (layer_norm(h) * (1 + scale[:, None]) + shift[:, None]) @ f.linear.weight.T + f.linear.bias
    C = cfg.out_channels or cfg.in_channels
    return out.reshape(B, G, G, P, P, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, G * P, G * P)


@pytest.mark.parametrize("patch", [2, 4, 8])
def test_forward_matches_the_equations(patch):
    torch.manual_seed(0)
    model = perturbed(DiT(small(patch=patch)), std=0.05)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([0.1, 0.8])
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), reference_forward(model, x, t), rtol=1e-4, atol=1e-5)


def test_patches_and_positions_are_in_the_same_order():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    tokens = patchify(x, 4)  # (2, 4, 48): row-major, as sincos_2d numbers the grid
    assert torch.equal(tokens[:, 1], x[:, :, :4, 4:].permute(0, 2, 3, 1).reshape(2, -1))  # row 0, column 1
    assert torch.equal(unpatchify(tokens, 4, 8, 8), x)
    model = DiT(small(image_size=8, patch=4))
    assert torch.equal(model.pos[0], sincos_2d(32, 2))
    assert "pos" not in model.state_dict(), "fixed positions are rebuilt, not stored"


def test_time_and_condition_change_the_output():
    torch.manual_seed(0)
    model = perturbed(DiT(small(cond_dim=5)), std=0.05)
    x, cond = torch.randn(2, 3, 16, 16), torch.randn(2, 5)
    with torch.no_grad():
        base = model(x, torch.tensor([0.3, 0.3]), cond)
        assert not torch.allclose(base, model(x, torch.tensor([0.7, 0.7]), cond))
        assert not torch.allclose(base, model(x, torch.tensor([0.3, 0.3]), torch.zeros(2, 5)))
        one = model(x[:1], torch.tensor([0.3]), cond[:1])  # samples do not mix within a batch
        torch.testing.assert_close(one, base[:1], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model(x, torch.tensor(0.3), cond), base)  # a scalar t is broadcast


def test_other_channels_and_latents():
    model = perturbed(
        DiT(DiTConfig(image_size=8, patch=2, in_channels=4, out_channels=8, **PRESETS["tiny"])), std=0.05
    )
    assert model(torch.randn(2, 4, 8, 8), torch.rand(2)).shape == (2, 8, 8, 8)


def test_presets_parameter_counts_and_flops():
    expected = {"tiny": (1.0e6, 1.6e6), "small": (6e6, 9e6), "base": (25e6, 40e6)}
    for name, (low, high) in expected.items():
        with torch.device("meta"):
            n = count_parameters(DiT(DiTConfig(**PRESETS[name])))
        assert low <= n <= high, f"{name}: {n:,}"

    class Linear(nn.Module):  # one multiply-add per weight: 2 FLOPs each
        def __init__(self):
            super().__init__()
            self.f = nn.Linear(3 * 4 * 4, 10)

        def forward(self, x, t):
            return self.f(x.flatten(1))

    assert gflops(Linear(), (3, 4, 4)) == pytest.approx(2 * 48 * 10 / 1e9)
    tiny = DiT(DiTConfig(**PRESETS["tiny"]))
    assert gflops(tiny, (3, 32, 32)) < gflops(DiT(DiTConfig(**PRESETS["tiny"], patch=2)), (3, 32, 32)) / 3


def one_hot_maps(batch=2, classes=5, size=16, seed=0):
    labels = torch.randint(classes, (batch, size, size), generator=torch.Generator().manual_seed(seed))
    return F.one_hot(labels, classes).permute(0, 3, 1, 2).float()  # (B, K, H, W)


def test_forward_with_a_map_matches_the_equations():
    torch.manual_seed(0)
    model = perturbed(DiT(small(map_channels=5)), std=0.05)
    x, t, maps = torch.randn(2, 3, 16, 16), torch.tensor([0.1, 0.8]), one_hot_maps()
    with torch.no_grad():
        torch.testing.assert_close(model(x, t, maps=maps), reference_forward(model, x, t, maps), rtol=1e-4,
                                   atol=1e-5)  # fmt: skip


def test_a_map_reaches_each_token_through_its_own_patch():
    """Without blocks, each output patch sees only its own patch of the map; with blocks, the whole map."""
    torch.manual_seed(0)
    x, t, maps = torch.randn(2, 3, 16, 16), torch.rand(2), one_hot_maps()
    changed = maps.clone()
    changed[:, :, :4, :4] = changed[:, :, :4, :4].roll(1, dims=1)  # other classes in the top-left patch only
    for depth, local in ((0, True), (2, False)):
        model = perturbed(DiT(small(depth=depth, map_channels=5)), std=0.05)
        with torch.no_grad():
            moved = (model(x, t, maps=maps) - model(x, t, maps=changed)).abs().amax(1)  # (B, H, W)
        assert (moved[:, :4, :4] > 0).all()
        outside = torch.cat([moved[:, 4:, :].flatten(1), moved[:, :4, 4:].flatten(1)], 1)
        assert (outside.max() == 0) if local else (outside > 0).all()


def test_bad_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="not divisible by patch"):
        DiTConfig(image_size=30, patch=4)
    with pytest.raises(ValueError, match="divisible by heads"):
        DiTConfig(width=30, heads=4)
    model = DiT(small())
    with pytest.raises(ValueError, match=r"expected xt \(B, 3, 16, 16\)"):
        model(torch.randn(2, 3, 32, 32), torch.rand(2))
    with pytest.raises(ValueError, match="without cond_dim"):
        model(torch.randn(2, 3, 16, 16), torch.rand(2), torch.randn(2, 5))
    with pytest.raises(ValueError, match="pass cond"):
        DiT(small(cond_dim=5))(torch.randn(2, 3, 16, 16), torch.rand(2))
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    with pytest.raises(ValueError, match="without map_channels"):
        model(x, t, maps=one_hot_maps())
    drawn = DiT(small(map_channels=5))
    with pytest.raises(ValueError, match="pass maps="):
        drawn(x, t)
    with pytest.raises(ValueError, match=r"expected a float tensor \(2, 5, 16, 16\)"):
        drawn(x, t, maps=one_hot_maps(classes=5)[:, :4])
    with pytest.raises(ValueError, match="torch.int64"):
        drawn(x, t, maps=one_hot_maps().long())


def test_block_alone_is_a_residual_transformer_block():
    torch.manual_seed(0)
    block = perturbed(DiTBlock(32, 4), std=0.05)
    x, c = torch.randn(2, 5, 32), torch.randn(2, 32)
    with torch.no_grad():
        out = block(x, c)
        swapped = block(x[:, [1, 0, 2, 3, 4]], c)  # no positions inside a block: permuting tokens commutes
    torch.testing.assert_close(swapped, out[:, [1, 0, 2, 3, 4]], rtol=1e-4, atol=1e-5)


def test_inputs_blocks_outputs_compose_to_the_forward_pass():
    """TREAD and REPA run the blocks themselves: inputs → blocks → outputs must be the model exactly."""
    model = perturbed(DiT(small(map_channels=2, cond_dim=5)), std=0.05)
    x, t, cond, maps = torch.randn(2, 3, 16, 16), torch.rand(2), torch.randn(2, 5), torch.rand(2, 2, 16, 16)
    tokens, c = model.inputs(x, t, cond, maps)
    assert tokens.shape == (2, 16, 32) and c.shape == (2, 32)
    for block in model.blocks:
        tokens = block(tokens, c)
    assert torch.equal(model.outputs(tokens, c), model(x, t, cond, maps))
    with pytest.raises(ValueError, match=r"expected xt \(B, 3, 16, 16\)"):
        model(torch.randn(2, 3, 8, 16), t, cond, maps)
