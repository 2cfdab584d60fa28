"""A readable UNet denoiser for images (B, C, H, W): the model of chapter 02.

The design of DDPM (Ho et al. 2020, App. B) with the improvements of "Diffusion Models Beat GANs"
(Dhariwal & Nichol 2021): residual blocks that read the time embedding, self-attention at low resolution,
skip connections from every down-path block to the up path, zero-initialised output layers.
Chapter 05 adds conditioning: ``cond`` (a pooled text or class vector) joins the time embedding, and text
tokens ``context`` are read by cross-attention after each self-attention (Stable Diffusion's design).
Read top to bottom: helpers → blocks → config → model → presets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from minidiff.layers import Attention, TimestepEmbedder

# ----------------------------------------------------------------------------------------------------------
# Helpers


def group_norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm with at most ``groups`` groups: the largest count that divides ``channels``."""
    groups = max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def zero_init(module: nn.Module) -> nn.Module:
    """Set a layer's weights and bias to zero, so the residual branch it ends starts as "add nothing"."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, frozen ones included (an EMA copy, whose weights never train, counts too)."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------------
# Blocks


class ResBlock(nn.Module):
    """Two 3x3 convs with a residual connection; the time embedding is added between them (DDPM)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0, groups: int = 32):
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = group_norm(out_ch, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(nn.Conv2d(out_ch, out_ch, 3, padding=1))  # a fresh block is the identity
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out_ch, H, W)
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]  # (B, out_ch) broadcast over H, W
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Self-attention over the H*W pixels of a feature map, with a residual connection."""

    def __init__(self, ch: int, heads: int, groups: int = 32):
        super().__init__()
        self.norm = group_norm(ch, groups)
        self.attn = Attention(ch, heads)
        zero_init(self.attn.to_out)  # starts as the identity, like the ResBlock (Dhariwal & Nichol 2021)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        tokens = rearrange(self.norm(x), "B C H W -> B (H W) C")  # (B, T = H*W, C)
        out = rearrange(self.attn(tokens), "B (H W) C -> B C H W", H=H, W=W)  # (B, C, H, W)
        return x + out


class CrossAttnBlock(nn.Module):
    """Cross-attention from the H*W pixels to text tokens (B, L, context_dim), with a residual connection.

    How text steers the image in Stable Diffusion (Rombach et al. 2022, §3.3): queries come from the
    pixels, keys and values from the tokens. Zero-initialised like AttnBlock: a fresh block adds nothing.
    """

    def __init__(self, ch: int, context_dim: int, heads: int, groups: int = 32):
        super().__init__()
        self.norm = group_norm(ch, groups)
        self.attn = Attention(ch, heads, context_dim=context_dim)
        zero_init(self.attn.to_out)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        H, W = x.shape[-2:]
        tokens = rearrange(self.norm(x), "B C H W -> B (H W) C")  # (B, T = H*W, C)
        out = self.attn(tokens, context, mask)  # (B, T, C): each pixel reads the tokens it attends to
        return x + rearrange(out, "B (H W) C -> B C H W", H=H, W=W)


class Downsample(nn.Module):
    """Halve H and W with a stride-2 3x3 conv."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)  # (B, C, H/2, W/2)


class Upsample(nn.Module):
    """Double H and W: nearest-neighbour upsampling, then a 3x3 conv (avoids checkerboard artefacts)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))  # (B, C, 2H, 2W)


# ----------------------------------------------------------------------------------------------------------
# Model


@dataclass
class UNetConfig:
    """Everything that sets the UNet's shape; presets below are dicts of these fields."""

    in_channels: int = 3
    out_channels: int | None = None  # None → same as in_channels
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2)  # one level per entry; each level but the last halves H, W
    blocks_per_level: int = 2
    attn_levels: tuple[int, ...] = (2,)  # self-attention only at low resolution: cost grows as (H*W)^2
    heads: int = 4
    dropout: float = 0.0
    groups: int = 32  # GroupNorm groups; fewer automatically when they do not divide the channels
    cond_dim: int | None = None  # None → unconditional; else forward(xt, t, cond) with cond (B, cond_dim)
    context_dim: int | None = (
        None  # None → no cross-attention; else forward(..., context=(B, L, context_dim))
    )


class UNet(nn.Module):
    """Predicts a tensor shaped like xt from (xt, t[, cond]); t (B,) in [0, 1] (0 = noise, 1 = data)."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        if any(level >= len(cfg.channel_mults) for level in cfg.attn_levels):
            raise ValueError(f"attn_levels={cfg.attn_levels}: levels are 0..{len(cfg.channel_mults) - 1}, "
                             "one per entry of channel_mults, 0 at full resolution")  # fmt: skip
        self.cfg = cfg
        emb_dim = 4 * cfg.base_channels  # the time-embedding width of DDPM

        def res(in_ch: int, out_ch: int) -> ResBlock:
            return ResBlock(in_ch, out_ch, emb_dim, cfg.dropout, cfg.groups)

        def attn(ch: int, level: int) -> nn.Module:
            return AttnBlock(ch, cfg.heads, cfg.groups) if level in cfg.attn_levels else nn.Identity()

        def cross(stage: nn.Module, level: int, ch: int, blocks: int) -> None:
            """Cross-attention to the text after each self-attention (only where there is self-attention)."""
            if cfg.context_dim and level in cfg.attn_levels:
                stage.cross = nn.ModuleList(
                    CrossAttnBlock(ch, cfg.context_dim, cfg.heads, cfg.groups) for _ in range(blocks)
                )

        self.time_embed = TimestepEmbedder(emb_dim)
        # the conditioning hook: a global condition vector (class, pooled text, ...) joins the time embedding
        self.cond_embed = nn.Linear(cfg.cond_dim, emb_dim) if cfg.cond_dim else None
        self.stem = nn.Conv2d(cfg.in_channels, cfg.base_channels, 3, padding=1)

        # Down path: each level holds `blocks_per_level` (ResBlock, attention) pairs, then a Downsample.
        # Every output is remembered (`skip_chs`) for the up path.
        ch, skip_chs = cfg.base_channels, [cfg.base_channels]
        self.down = nn.ModuleList()
        for level, mult in enumerate(cfg.channel_mults):
            stage = nn.Module()
            stage.res, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.blocks_per_level):
                stage.res.append(res(ch, cfg.base_channels * mult))
                ch = cfg.base_channels * mult
                stage.attn.append(attn(ch, level))
                skip_chs.append(ch)
            cross(stage, level, ch, cfg.blocks_per_level)
            stage.downsample = Downsample(ch) if level < len(cfg.channel_mults) - 1 else None
            if stage.downsample is not None:
                skip_chs.append(ch)
            self.down.append(stage)

        self.mid = nn.Module()
        self.mid.res1 = res(ch, ch)
        self.mid.attn = AttnBlock(ch, cfg.heads, cfg.groups)
        self.mid.res2 = res(ch, ch)
        if cfg.context_dim:
            self.mid.cross = CrossAttnBlock(ch, cfg.context_dim, cfg.heads, cfg.groups)

        # Up path, deepest level first: one more block per level than on the way down, each block takes
        # the concatenation of the current features and one remembered skip.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mults))):
            stage = nn.Module()
            stage.res, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.blocks_per_level + 1):
                stage.res.append(res(ch + skip_chs.pop(), cfg.base_channels * mult))
                ch = cfg.base_channels * mult
                stage.attn.append(attn(ch, level))
            cross(stage, level, ch, cfg.blocks_per_level + 1)
            stage.upsample = Upsample(ch) if level > 0 else None
            self.up.append(stage)

        self.out_norm = group_norm(ch, cfg.groups)
        self.out_conv = zero_init(nn.Conv2d(ch, cfg.out_channels or cfg.in_channels, 3, padding=1))

    def _validate(self, xt: torch.Tensor, t: torch.Tensor, cond, context, context_mask) -> None:
        cfg, factor = self.cfg, 2 ** (len(self.cfg.channel_mults) - 1)
        if xt.ndim != 4 or xt.shape[1] != cfg.in_channels:
            raise ValueError(f"xt must be (B, {cfg.in_channels}, H, W), got {tuple(xt.shape)}: "
                             f"check UNetConfig.in_channels or add the batch dimension")  # fmt: skip
        if xt.shape[2] % factor or xt.shape[3] % factor:
            raise ValueError(f"H and W must be divisible by {factor} ({len(cfg.channel_mults)} levels), got "
                             f"{xt.shape[2]}x{xt.shape[3]}: resize or pad the images")  # fmt: skip
        if t.shape != (xt.shape[0],):
            raise ValueError(f"t must have shape (B,) = ({xt.shape[0]},), got {tuple(t.shape)}: "
                             f"use t.expand(B) for one shared time")  # fmt: skip
        if cfg.cond_dim is None and cond is not None:
            raise ValueError("this UNet is unconditional: set UNetConfig(cond_dim=...) to pass cond")
        if cfg.cond_dim is not None and (cond is None or cond.shape != (xt.shape[0], cfg.cond_dim)):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"cond must be (B, {cfg.cond_dim}), got {got}: pass zeros for 'no condition'")
        if cfg.context_dim is None and context is not None:
            raise ValueError(
                "this UNet has no cross-attention: set UNetConfig(context_dim=...) to pass context"
            )
        if cfg.context_dim is not None:
            if context is None or context.ndim != 3 or context.shape[::2] != (xt.shape[0], cfg.context_dim):
                got = None if context is None else tuple(context.shape)
                raise ValueError(f"context must be (B, L, {cfg.context_dim}) text tokens, got {got}: "
                                 "see minidiff.guidance.null_like for 'no condition'")  # fmt: skip
            if context_mask is not None and context_mask.shape != context.shape[:2]:
                raise ValueError(f"context_mask must be (B, L) = {tuple(context.shape[:2])}, "
                                 f"got {tuple(context_mask.shape)}")  # fmt: skip

    def forward(
        self,
        xt: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``cond`` (B, cond_dim) joins the time embedding; ``context`` (B, L, context_dim) text tokens, with
        ``context_mask`` (B, L) True for real tokens, are read by cross-attention at the attention levels."""
        self._validate(xt, t, cond, context, context_mask)

        def read_text(stage: nn.Module, i: int, h: torch.Tensor) -> torch.Tensor:
            cross = getattr(stage, "cross", None)
            return h if cross is None else cross[i](h, context, context_mask)

        emb = self.time_embed(t)  # (B, 4 * base_channels)
        if self.cond_embed is not None:
            emb = emb + self.cond_embed(cond)

        h = self.stem(xt)  # (B, base_channels, H, W)
        skips = [h]
        for stage in self.down:
            for i, (res, attn) in enumerate(zip(stage.res, stage.attn)):
                h = read_text(stage, i, attn(res(h, emb)))
                skips.append(h)
            if stage.downsample is not None:
                h = stage.downsample(h)  # (B, C, H/2, W/2)
                skips.append(h)

        h = self.mid.attn(self.mid.res1(h, emb))
        if self.cfg.context_dim:
            h = self.mid.cross(h, context, context_mask)
        h = self.mid.res2(h, emb)

        for stage in self.up:
            for i, (res, attn) in enumerate(zip(stage.res, stage.attn)):
                h = torch.cat([h, skips.pop()], dim=1)  # (B, C + C_skip, H, W)
                h = read_text(stage, i, attn(res(h, emb)))
            if stage.upsample is not None:
                h = stage.upsample(h)  # (B, C, 2H, 2W)

        return self.out_conv(F.silu(self.out_norm(h)))  # (B, out_channels, H, W)


# ----------------------------------------------------------------------------------------------------------
# Presets: plain dicts of UNetConfig fields, e.g. UNet(UNetConfig(**PRESETS["small"]))

PRESETS = {
    # ~0.46M parameters: chapter 02 trains it at the quick and cpu budgets (shapes, 32x32, batch 32:
    # ≈ 0.09 s a training step on 2 idle CPU threads)
    "tiny": dict(
        base_channels=16, channel_mults=(1, 2, 3), blocks_per_level=1, attn_levels=(2,), heads=2, groups=8
    ),
    # ~4M parameters: chapter 02's gpu budget (emoji, 32x32, batch 128)
    "small": dict(base_channels=32, channel_mults=(1, 2, 4), blocks_per_level=2, attn_levels=(2,), heads=4),
    # ~16M parameters, "small" at twice the width: no budget trains it yet (chapter 02 counts its
    # parameters, solutions/02 times its steps)
    "base": dict(base_channels=64, channel_mults=(1, 2, 4), blocks_per_level=2, attn_levels=(2,), heads=4),
}
