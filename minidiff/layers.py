"""Reusable building blocks shared by the UNet, the DiT and the conditioning chapters.

Read top to bottom: time embeddings → attention → MLP → adaLN modulation → patches and 2-D positions.
Tokens are (B, T, D); images are (B, C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

# ----------------------------------------------------------------------------------------------------------
# Time embedding


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000) -> torch.Tensor:
    """Sinusoidal features of the flow time t (B,) in [0, 1] → (B, dim), as ``[cos | sin]``.

    The Transformer's position encoding (Vaswani et al. 2017, §3.5), used for the diffusion step by DDPM
    (Ho et al. 2020, App. B). t is scaled by 1000 so that t in [0, 1] spans the range the frequencies
    were designed for (DDPM's integer steps 0..999).
    """
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,), got {tuple(t.shape)}: use t.reshape(-1)")
    half = dim // 2
    # frequencies from 1 down to 1/max_period, geometrically spaced
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = 1000 * t.float()[:, None] * freqs[None, :]  # (B, dim // 2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2 * (dim // 2))
    if dim % 2:  # odd dim: pad one zero column
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedder(nn.Module):
    """t (B,) → (B, dim): sinusoidal features, then Linear → SiLU → Linear (as in DDPM and DiT)."""

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or dim
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.dim))


# ----------------------------------------------------------------------------------------------------------
# Attention and MLP


class Attention(nn.Module):
    """Multi-head attention on tokens (B, T, D) (Vaswani et al. 2017, §3.2).

    Self-attention by default. With ``context_dim`` set, keys and values come from a second sequence
    ``context`` (B, L, context_dim): cross-attention, the way text conditions an image in chapter 05.
    """

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}: pick heads that divide dim")
        self.heads = heads
        self.context_dim = context_dim
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(context_dim or dim, dim)
        self.to_v = nn.Linear(context_dim or dim, dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mask`` (B, L) bool, True where a key may be attended to (False: padding it must ignore)."""
        if context is None:
            if self.context_dim is not None:
                raise ValueError("built with context_dim: pass context (B, L, context_dim) to forward")
            context = x
        q = rearrange(self.to_q(x), "B T (h d) -> B h T d", h=self.heads)  # (B, heads, T, D / heads)
        k = rearrange(self.to_k(context), "B L (h d) -> B h L d", h=self.heads)  # (B, heads, L, D / heads)
        v = rearrange(self.to_v(context), "B L (h d) -> B h L d", h=self.heads)  # (B, heads, L, D / heads)
        if mask is not None:
            if mask.dtype != torch.bool or mask.shape != context.shape[:2]:
                raise ValueError(f"mask must be bool (B, L) = {tuple(context.shape[:2])}, got {mask.dtype} "
                                 f"{tuple(mask.shape)}: True marks the tokens to attend to")  # fmt: skip
            if not mask.any(dim=1).all():
                raise ValueError("a mask row is all False: each sample needs a token to attend to")
            mask = mask[:, None, None, :]  # (B, 1, 1, L): the same keys for every head and query
        # softmax(q k^T / sqrt(d)) v, masked keys left out of the softmax: (B, heads, T, D / heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = rearrange(out, "B h T d -> B T (h d)")  # (B, T, D)
        return self.to_out(out)


class MLP(nn.Module):
    """The transformer's position-wise feed-forward: Linear → GELU → Linear, back to ``dim``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: tokens x (B, T, D) shifted and scaled per sample by (B, D) (DiT, Peebles & Xie 2023, §3.2).

    ``1 + scale`` so that a zero-initialised scale leaves x unchanged.
    """
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


# ----------------------------------------------------------------------------------------------------------
# Patches and 2-D positions (ViT, Dosovitskiy et al. 2021; DiT)


def patchify(x: torch.Tensor, P: int) -> torch.Tensor:
    """Cut images (B, C, H, W) into non-overlapping P×P patches → tokens (B, T, P*P*C), row-major."""
    H, W = x.shape[-2:]
    if H % P or W % P:
        raise ValueError(f"image size {H}x{W} is not divisible by the patch size {P}: resize or change P")
    return rearrange(x, "B C (h p) (w q) -> B (h w) (p q C)", p=P, q=P)  # (B, T = H/P * W/P, P*P*C)


def unpatchify(tokens: torch.Tensor, P: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: tokens (B, T, P*P*C) → images (B, C, H, W); H and W in pixels."""
    T = tokens.shape[1]
    if H % P or W % P or T != (H // P) * (W // P):
        raise ValueError(f"{T} tokens of patch size {P} cannot form a {H}x{W} image: check H, W and P")
    return rearrange(tokens, "B (h w) (p q C) -> B C (h p) (w q)", h=H // P, p=P, q=P)  # (B, C, H, W)


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """positions (T,) → (T, dim) as ``[sin | cos]`` of geometrically spaced frequencies (MAE's recipe)."""
    omega = 1.0 / 10_000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    args = positions.double()[:, None] * omega[None, :]  # (T, dim / 2)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def sincos_2d(dim: int, grid_size: int) -> torch.Tensor:
    """Fixed 2-D position embedding of a grid_size × grid_size grid → (grid_size**2, dim), row-major.

    The first half of the channels encodes the row, the second half the column (MAE, He et al. 2022;
    used by DiT). Token order matches :func:`patchify`.
    """
    if dim % 4:
        raise ValueError(f"dim={dim} must be divisible by 4 (sin and cos for rows and for columns)")
    grid = torch.arange(grid_size)
    rows, cols = torch.meshgrid(grid, grid, indexing="ij")  # (G, G) each: row and column of every token
    emb = torch.cat([_sincos_1d(dim // 2, rows.reshape(-1)), _sincos_1d(dim // 2, cols.reshape(-1))], dim=1)
    return emb.float()  # (T = G*G, D)
