"""The chapter-07 checks pass on the reference and fail, with a useful hint, on broken copies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minidiff import checks
from minidiff.dit import DiT, DiTBlock, FinalLayer
from minidiff.layers import patchify, unpatchify


def test_checks_pass_on_the_reference(capsys):
    checks.check_dit_block(DiTBlock)
    checks.check_final_layer(FinalLayer)
    checks.check_dit(DiT)
    assert capsys.readouterr().out.count("✓") >= 10


class RandomGates(DiTBlock):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__(dim, heads, mlp_ratio)
        self.ada[1].reset_parameters()  # nn.Linear's default init: the block is no longer the identity


class SwappedChunks(DiTBlock):
    def forward(self, x, c):
        scale1, shift1, gate1, scale2, shift2, gate2 = self.ada(c).chunk(6, dim=-1)
        x = x + gate1[:, None] * self.attn(self.norm1(x) * (1 + scale1[:, None]) + shift1[:, None])
        return x + gate2[:, None] * self.mlp(self.norm2(x) * (1 + scale2[:, None]) + shift2[:, None])


class AffineNorms(DiTBlock):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__(dim, heads, mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)  # has weight and bias: parameters the reference does not have


class NotZeroed(FinalLayer):
    def __init__(self, dim, patch_dim):
        super().__init__(dim, patch_dim)
        self.linear.reset_parameters()


class NoPositions(DiT):
    def forward(self, xt, t, cond=None):
        x = self.embed(patchify(xt, self.cfg.patch))
        c = self.condition(t)
        for block in self.blocks:
            x = block(x, c)
        return unpatchify(self.final(x, c), self.cfg.patch, *xt.shape[-2:])


@pytest.mark.parametrize(
    "check, broken, hint",
    [
        (checks.check_dit_block, RandomGates, "return its input unchanged"),
        (checks.check_dit_block, SwappedChunks, "order of the six chunks"),
        (checks.check_dit_block, AffineNorms, "unexpected parameter `norm1.weight`.*elementwise_affine"),
        (checks.check_final_layer, NotZeroed, "zero-initialise `linear`"),
        (checks.check_dit, NoPositions, "add the 2-D positions"),
    ],
)
def test_fails_with_a_hint(check, broken, hint):
    with pytest.raises(AssertionError, match=hint):
        check(broken)


def test_the_checks_leave_the_global_rng_alone():
    torch.manual_seed(3)
    want = torch.rand(1)
    torch.manual_seed(3)
    checks.check_dit(DiT)
    assert torch.equal(torch.rand(1), want)
