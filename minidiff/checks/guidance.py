"""Checks for chapter 05 (conditioning and classifier-free guidance): cross-attention, dropout, guidance."""

from __future__ import annotations

import torch

from minidiff.checks.core import assert_close, close, learner_code, passed, perturbed
from minidiff.checks.core import load_reference_weights as _load

_NAME_HINTS = {
    "norm": "normalise the feature map first: a GroupNorm named `norm` (minidiff.unet.group_norm)",
    "attn": "use minidiff.layers.Attention(ch, heads, context_dim=context_dim) named `attn`",
}


def _hint(name: str) -> str:
    return next(
        (hint for key, hint in _NAME_HINTS.items() if name.startswith(key)), "copy CrossAttnBlock's names"
    )


@learner_code
def check_cross_attn_block(cls) -> None:
    """``cls(ch, context_dim, heads, groups)``: pixels (queries) read text tokens (keys, values); residual."""
    from minidiff.unet import CrossAttnBlock

    torch.manual_seed(0)
    reference = perturbed(CrossAttnBlock(16, 6, 2, groups=4))
    candidate = cls(16, 6, 2, groups=4)
    _load(candidate, reference, "CrossAttnBlock(16, 6, 2)", _hint)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, 4, 4, generator=generator)
    context = torch.randn(2, 5, 6, generator=generator)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    with torch.no_grad():
        got, want = candidate(x, context, mask), reference(x, context, mask)
        if close(got, want - x, atol=1e-4):
            raise AssertionError(
                "CrossAttnBlock output misses the residual: return x + the attention's output"
            )
        if close(got, reference(x, context), atol=1e-4) and not close(want, reference(x, context), atol=1e-4):
            raise AssertionError(
                "CrossAttnBlock ignores the mask: pass it on to self.attn(tokens, context, mask)"
            )
        assert_close(got, want, "CrossAttnBlock output with the reference's weights", atol=1e-4)
    passed("the pixels read the text tokens, padding masked out, with a residual connection")


@learner_code
def check_drop_condition(fn) -> None:
    """``fn(cond (B, D), p, generator) -> (B, D)``: each row zeroed ("no condition") with probability p."""
    cond = torch.randn(4000, 4, generator=torch.Generator().manual_seed(0)) + 5  # no row is zero by chance
    for p in (0.0, 1.0):
        got = fn(cond, p, torch.Generator().manual_seed(0))
        assert_close(got, cond if p == 0 else torch.zeros_like(cond), f"p = {p:g}")
    passed("p = 0 keeps every condition, p = 1 drops them all")
    got = fn(cond, 0.2, torch.Generator().manual_seed(0))
    if not isinstance(got, torch.Tensor) or got.shape != cond.shape:
        raise AssertionError(f"expected a tensor shaped {tuple(cond.shape)}: one condition per sample")
    zeros = got == 0
    if zeros.any() and not torch.equal(zeros.all(1), zeros.any(1)):
        raise AssertionError(
            "some rows are partly zeroed: draw one coin per sample, shape (B,), not per entry"
        )
    gone = zeros.all(1)
    kept = ~gone
    if not torch.equal(got[kept], cond[kept]):
        raise AssertionError("a kept condition changed: keep it as it is (no rescaling by 1 / (1 - p))")
    rate = gone.float().mean().item()
    if abs(rate - 0.2) > 0.03:  # binomial sd at n = 4000 is 0.006
        raise AssertionError(f"dropped {rate:.1%} of the conditions at p = 0.2: drop when rand < p")
    passed(f"drops whole samples at rate p (0.2 asked, {rate:.1%} dropped of 4000)")


class _Shift(torch.nn.Module):
    """out = xt + cond over H, W: the guided output has a closed form; counts the passes."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def forward(self, xt, t, cond):
        self.batches.append(xt.shape[0])
        return xt + cond[:, :, None, None]


@learner_code
def check_guided(fn) -> None:
    """``fn(model, cond, scale, interval) -> fn(xt, t)``: uncond + scale * (cond - uncond) inside interval."""
    cond = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    xt = torch.randn(2, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    for scale in (3.0, 1.0):
        model = _Shift()
        got = fn(model, cond, scale, (0.0, 1.0))(xt, torch.tensor([0.5, 0.5]))
        want = xt + scale * cond[:, :, None, None]  # conditional xt + c, unconditional xt (c zeroed)
        if scale != 1 and close(got, xt + (1 - scale) * cond[:, :, None, None]):  # cond + s (uncond - cond)
            raise AssertionError("the extrapolation runs the wrong way: uncond + scale * (cond - uncond)")
        if close(got, scale * (xt + cond[:, :, None, None])) and scale != 1:
            raise AssertionError(
                "scale multiplies the difference (cond - uncond), not the conditional output"
            )
        assert_close(got, want, f"guided output at scale {scale:g}")
        if scale != 1 and model.batches != [4]:
            raise AssertionError(f"forward passes over batches {model.batches}: run cond and null together "
                                 "as one batch of 2B (torch.cat), then split with .chunk(2)")  # fmt: skip
    passed("uncond + scale * (cond - uncond), in one forward pass over 2B samples")
    model = _Shift()
    got = fn(model, cond, 3.0, (0.2, 0.8))(xt, torch.tensor([0.1, 0.5]))
    want = xt + torch.tensor([1.0, 3.0])[:, None, None, None] * cond[:, :, None, None]
    assert_close(got, want, "guidance interval (0.2, 0.8) at t = 0.1 (outside: scale 1) and t = 0.5 (inside)")
    passed("outside the interval the scale is 1")
