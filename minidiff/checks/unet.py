"""Checks for chapter 02 (a UNet): timestep embedding, ResBlock, attention, the whole UNet.

The learner's classes must use the parameter names of minidiff.unet, so that the reference's weights load into
them (strict): then the same weights must give the same output.
"""

from __future__ import annotations

import re

import torch

from minidiff.checks.core import assert_close, close, learner_code, passed, perturbed
from minidiff.checks.core import load_reference_weights as _load
from minidiff.checks.core import match_parameters as _match

_NAME_HINTS = {
    "skip": "when in_ch != out_ch the residual path is a 1x1 conv named `skip` (nn.Identity otherwise)",
    "emb_proj": "the time embedding enters through a Linear named `emb_proj` (emb_dim → out_ch)",
    "to_q": "use minidiff.layers.Attention (to_q, to_k, to_v, to_out) as `attn`",
    "to_out": "use minidiff.layers.Attention (to_q, to_k, to_v, to_out) as `attn`",
    "time_embed": "embed t with minidiff.layers.TimestepEmbedder(4 * base_channels) named `time_embed`",
    "down.": "the down path is `down`: one stage per level with `res`, `attn` lists and `downsample`",
    "up.": "the up path is `up`, deepest level first, with blocks_per_level + 1 blocks per level",
    "mid.": "the middle is `mid` with `res1`, `attn`, `res2`",
    "out_": "the output is `out_norm` (GroupNorm) then SiLU then `out_conv` (3x3, zero-initialised)",
}


def _hint(name: str) -> str:
    if re.match(r"up\.\d+\.res\.\d+\.(norm1|conv1|skip)", name):
        return "an up-path block reads torch.cat([h, skip], dim=1), so its in_ch is C + C_skip"
    hints = (hint for key, hint in _NAME_HINTS.items() if key in name)
    return next(hints, "copy the layer names of the reference")


@learner_code
def check_timestep_embedding(fn) -> None:
    """``fn(t, dim) -> (B, dim)``: ``[cos | sin]`` of 1000 * t times frequencies 1 ... 1/10000."""
    from minidiff.layers import timestep_embedding

    t = torch.tensor([0.0, 0.1, 0.5, 1.0])
    for dim in (8, 32):
        got, want = fn(t, dim), timestep_embedding(t, dim)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise AssertionError(f"dim={dim}: got {shape}, expected shape {tuple(want.shape)} (B, dim)")
        if close(got, torch.cat([want[:, dim // 2 :], want[:, : dim // 2]], dim=1), atol=1e-4):
            raise AssertionError("cos and sin are swapped: the reference puts the cosines first, [cos | sin]")
        if close(got, timestep_embedding(t / 1000, dim), atol=1e-4):
            raise AssertionError("scale t by 1000 first: t in [0, 1] stands for DDPM's steps 0..999")
        assert_close(got, want, f"timestep embedding, dim={dim}", atol=1e-4)
    passed("shape (B, dim) for dim = 8 and 32")
    passed("values match [cos | sin] of 1000 * t * freqs at t = 0, 0.1, 0.5, 1")


@learner_code
def check_resblock(cls) -> None:
    """``cls(in_ch, out_ch, emb_dim, dropout)``, ``forward(x, emb)``, named like minidiff.unet.ResBlock."""
    from minidiff.unet import ResBlock

    generator = torch.Generator().manual_seed(0)
    x, emb = torch.randn(2, 32, 8, 8, generator=generator), torch.randn(2, 16, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for in_ch, out_ch in ((32, 64), (32, 32)):
            what = f"ResBlock({in_ch}, {out_ch})"
            reference = perturbed(ResBlock(in_ch, out_ch, 16, 0.0))
            candidate = cls(in_ch, out_ch, 16, 0.0)
            _load_weights(candidate, reference, what)
            with torch.no_grad():
                got, want = candidate(x, emb), reference(x, emb)
                if close(got, want - reference.skip(x), atol=1e-4):
                    raise AssertionError(f"{what}: add the residual: return self.skip(x) + h")
            assert_close(got, want, f"{what} output with the reference's weights", atol=1e-4)
            passed(f"{what}: same weights → same output {tuple(got.shape)}")
        fresh = cls(32, 32, 16, 0.0).eval()
        with torch.no_grad():
            if not close(fresh(x, emb), x, atol=1e-6):
                raise AssertionError(
                    "a fresh block must be the identity: zero-initialise conv2 (weight, bias)"
                )
    passed("a fresh block is the identity (conv2 starts at zero)")


@learner_code
def check_attention(cls, cross: bool = False) -> None:
    """``cls(dim, heads)`` (``context_dim=`` too when ``cross``), named like minidiff.layers.Attention."""
    from minidiff.layers import Attention

    generator = torch.Generator().manual_seed(0)
    x, context = torch.randn(2, 5, 16, generator=generator), torch.randn(2, 7, 12, generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        kwargs = {"context_dim": 12} if cross else {}
        reference, candidate = perturbed(Attention(16, 4, **kwargs)), cls(16, 4, **kwargs)
        what = "cross-attention" if cross else "self-attention"
        _load_weights(candidate, reference, what)
        with torch.no_grad():
            got = candidate(x, context) if cross else candidate(x)
            want = reference(x, context) if cross else reference(x)
    hint = "split D into heads as (B, heads, T, D / heads) and scale by 1 / sqrt(D / heads)"
    assert_close(got, want, f"{what} output (hint: {hint})", atol=1e-4)
    passed(f"{what}: same weights → same output {tuple(got.shape)}")


@learner_code
def check_attn_block(cls) -> None:
    """``cls(ch, heads)`` with ``forward(x)`` on (B, C, H, W), named like minidiff.unet.AttnBlock."""
    from minidiff.unet import AttnBlock

    x = torch.randn(2, 32, 4, 6, generator=torch.Generator().manual_seed(0))  # H != W catches mix-ups
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference, candidate = perturbed(AttnBlock(32, 4)), cls(32, 4)
        _load_weights(candidate, reference, "AttnBlock(32, 4)")
        with torch.no_grad():
            got, want = candidate(x), reference(x)
    if close(got, want - x, atol=1e-4):
        raise AssertionError("AttnBlock: add the residual: return x + attention output")
    hint = "tokens are (B, H*W, C), then back to (B, C, H, W)"
    assert_close(got, want, f"AttnBlock output (hint: {hint})", atol=1e-4)
    passed(f"AttnBlock(32, 4): same weights → same output {tuple(got.shape)}")


@learner_code
def check_unet(cls_or_model) -> None:
    """A UNet class (built here from a tiny UNetConfig) or a model with ``.cfg``, named like unet.UNet."""
    import copy
    from dataclasses import fields

    from minidiff.unet import UNet, UNetConfig

    given_model = isinstance(cls_or_model, torch.nn.Module)
    if given_model:
        if not hasattr(cls_or_model, "cfg"):
            raise AssertionError(
                "keep the config as `self.cfg` (a UNetConfig): the check builds the reference"
            )
        cfg = UNetConfig(**{f.name: getattr(cls_or_model.cfg, f.name) for f in fields(UNetConfig)})
    else:
        tiny = dict(base_channels=16, channel_mults=(1, 2), blocks_per_level=1, attn_levels=(1,), heads=2)
        cfg = UNetConfig(**tiny, groups=8)
    generator = torch.Generator().manual_seed(0)
    shape = (2, cfg.in_channels, 16, 16)
    xt, t = torch.randn(shape, generator=generator), torch.tensor([0.3, 0.8])
    cond = torch.randn(2, cfg.cond_dim, generator=generator) if cfg.cond_dim else None
    args = (xt, t) if cond is None else (xt, t, cond)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = UNet(cfg)
        # a copy of a given model, so that the learner's own weights stay untouched
        candidate = copy.deepcopy(cls_or_model).cpu() if given_model else cls_or_model(cfg)
    _match_names(candidate, reference, "UNet")  # before any forward, so shape errors come with hints
    if not given_model:
        with torch.no_grad():
            if not torch.equal(candidate.eval()(*args), torch.zeros_like(xt)):
                raise AssertionError("a fresh UNet must output exactly zero: zero-initialise out_conv")
        passed("a fresh UNet outputs exactly zero (out_conv starts at zero)")
    perturbed(reference)
    candidate.load_state_dict(reference.state_dict(), strict=True)
    candidate.eval()
    with torch.no_grad():
        got, want = candidate(*args), reference(*args)
        hint = "the up path concatenates [h, skips.pop()], the most recent skip first"
        assert_close(got, want, f"UNet output with the reference's weights (hint: {hint})", atol=1e-4)
        passed(f"UNet: same weights → same output {tuple(got.shape)}")
        wide = torch.randn(1, cfg.in_channels, 16, 32, generator=generator)  # another resolution, not square
        wide_args = (wide, t[:1]) if cond is None else (wide, t[:1], cond[:1])
        assert_close(candidate(*wide_args), reference(*wide_args), "UNet output at 16x32", atol=1e-4)
    passed("UNet: same output at another resolution (16x32)")


def _match_names(candidate, reference, what: str) -> None:
    _match(candidate, reference, what, _hint)


def _load_weights(candidate, reference, what: str) -> None:
    _load(candidate, reference, what, _hint)
