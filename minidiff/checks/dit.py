"""Checks for chapter 07 (the DiT): the adaLN-Zero block, the final layer, the whole model.

The learner's classes use the parameter names of minidiff.dit, so the reference's weights load into them
(strict); then the same weights must give the same output, and a fresh one must start as the reference does.
"""

from __future__ import annotations

import torch

from minidiff.checks.core import assert_close, close, learner_code, passed, perturbed
from minidiff.checks.core import load_reference_weights as _load

_NAME_HINTS = {
    "norm": "LayerNorm(dim, elementwise_affine=False, eps=1e-6): no weights of its own, c supplies them",
    "attn": "use minidiff.layers.Attention(dim, heads) named `attn`",
    "mlp": "use minidiff.layers.MLP(dim, int(dim * mlp_ratio)) named `mlp`",
    "ada": "`ada` = minidiff.dit.adaln(dim, 6) in a block, adaln(dim, 2) in the final layer",
    "linear": "the final layer's projection is a Linear(dim, patch_dim) named `linear`, zero-initialised",
    "embed": "`embed` = Linear(P * P * C, width): one token per patch",
    "time": "`time` = minidiff.layers.TimestepEmbedder(width)",
    "blocks": "`blocks` = nn.ModuleList of depth DiTBlocks",
    "final": "`final` = FinalLayer(width, P * P * C_out)",
}


def _hint(name: str) -> str:
    parts = name.split(".")
    return next((hint for key, hint in _NAME_HINTS.items() if key in parts[0] or (len(parts) > 2 and
                 key in parts[2])), "copy the layer names of minidiff.dit")  # fmt: skip


def _fresh_is_identity(candidate, x, c, what: str) -> None:
    with torch.no_grad():
        out = candidate(x, c)
    if not close(out, x, atol=1e-6):
        raise AssertionError(f"{what}: a fresh block must return its input unchanged (adaLN-Zero): "
                             "zero the weight and bias of the Linear in `ada` (dit.adaln does)")  # fmt: skip
    passed(f"{what}: a fresh block is the identity (the gates start at zero)")


def _fresh_outputs_zeros(out, shape: tuple[int, ...], what: str, fix: str) -> None:
    """A fresh module's output must be a tensor of ``shape`` and all zeros (the adaLN-Zero start)."""
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AssertionError(f"{what} {shape}, got {got}")
    if not close(out, torch.zeros_like(out), atol=1e-7):
        raise AssertionError(fix)


@learner_code
def check_dit_block(cls) -> None:
    """``cls(dim, heads, mlp_ratio)``, ``forward(x (B, T, D), c (B, D))``, named like dit.DiTBlock."""
    from minidiff.dit import DiTBlock

    generator = torch.Generator().manual_seed(0)
    x, c = torch.randn(2, 5, 16, generator=generator), torch.randn(2, 16, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _fresh_is_identity(cls(16, 4, 2.0).eval(), x, c, "DiTBlock(16, 4)")
        reference = perturbed(DiTBlock(16, 4, 2.0))
        candidate = cls(16, 4, 2.0)
    _load(candidate, reference, "DiTBlock(16, 4)", _hint)
    with torch.no_grad():
        got, want = candidate(x, c), reference(x, c)
        assert_close(got, want, "DiTBlock output with the reference's weights (order of the six chunks: "
                     "shift, scale, gate for attention, then for the MLP)", atol=1e-4)  # fmt: skip
    passed("DiTBlock: same weights, same output: shift, scale and gate from c around attention and MLP")


@learner_code
def check_final_layer(cls) -> None:
    """``cls(dim, patch_dim)``, ``forward(x (B, T, D), c (B, D)) -> (B, T, patch_dim)``, zero at the start."""
    from minidiff.dit import FinalLayer

    generator = torch.Generator().manual_seed(1)
    x, c = torch.randn(2, 5, 16, generator=generator), torch.randn(2, 16, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = cls(16, 12).eval()
        reference = perturbed(FinalLayer(16, 12))
        candidate = cls(16, 12)
    with torch.no_grad():
        _fresh_outputs_zeros(fresh(x, c), (2, 5, 12), "FinalLayer(16, 12): expected (B, T, patch_dim) =",
                             "FinalLayer: a fresh one must output zeros: zero-initialise `linear`'s weight "
                             "and bias (and build `ada` with minidiff.dit.adaln)")  # fmt: skip
    passed("FinalLayer: a fresh one outputs zeros, so the untrained DiT predicts 0")
    _load(candidate, reference, "FinalLayer(16, 12)", _hint)
    with torch.no_grad():
        got, want = candidate(x, c), reference(x, c)
    assert_close(got, want, "FinalLayer output with the reference's weights", atol=1e-4)
    passed("FinalLayer: same weights, same output")


@learner_code
def check_dit(cls) -> None:
    """``cls(DiTConfig)``, ``forward(xt (B, C, H, W), t (B,)) -> (B, C, H, W)``, named like dit.DiT."""
    from minidiff.dit import DiT, DiTConfig

    cfg = DiTConfig(image_size=8, patch=2, width=16, depth=2, heads=4, mlp_ratio=2.0)
    generator = torch.Generator().manual_seed(2)
    x, t = torch.randn(2, 3, 8, 8, generator=generator), torch.tensor([0.2, 0.9])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = cls(cfg).eval()
        reference = perturbed(DiT(cfg))
        candidate = cls(cfg)
    with torch.no_grad():
        _fresh_outputs_zeros(
            fresh(x, t),
            tuple(x.shape),
            "DiT: expected an output shaped like xt",
            "DiT: a fresh model must output zeros (adaLN-Zero blocks, a zero final layer)",
        )
    passed("DiT: output shaped like xt, zero before training")
    _load(candidate, reference, "DiT (depth 2, width 16, patch 2)", _hint)
    with torch.no_grad():
        got, want = candidate(x, t), reference(x, t)
        if close(got, _without_positions(reference, x, t), atol=1e-4):
            raise AssertionError("DiT: add the 2-D positions to the patch tokens: self.embed(patchify(x)) + "
                                 "self.pos")  # fmt: skip
        assert_close(got, want, "DiT output with the reference's weights", atol=1e-4)
    passed("DiT: same weights, same output: patches → tokens + positions → blocks → final layer → image")


def _without_positions(reference, x, t) -> torch.Tensor:
    """The reference's output when the positions are left out: the most common slip."""
    from minidiff.layers import patchify, unpatchify

    cfg = reference.cfg
    h = reference.embed(patchify(x, cfg.patch))
    c = reference.condition(t)
    for block in reference.blocks:
        h = block(h, c)
    return unpatchify(reference.final(h, c), cfg.patch, *x.shape[-2:])
