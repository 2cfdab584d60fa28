"""The Diffusion Transformer (DiT, Peebles & Xie 2023) that chapter 07 builds; chapters 08-11 reuse it.

    model = DiT(DiTConfig(**PRESETS["small"], image_size=32, patch=4))
    v = model(xt, t)                        # xt (B, C, H, W), t (B,) in [0, 1] -> (B, C, H, W)

Read top to bottom: the image is cut into P×P patches, each a token (``layers.patchify``) embedded by one
linear layer, plus a fixed 2-D sin-cos position (``layers.sincos_2d``), plus (chapter 09) the embedding of
the same patch of a drawn map, one channel per class: a condition per token. The time t (and an optional
pooled condition, as in chapter 05's UNet) makes one vector c per image. Each ``DiTBlock`` is a pre-norm
transformer block whose LayerNorms have no weights of their own: c sets a shift, a scale and a gate per
channel for the attention and for the MLP (adaLN). The layers that produce them start at zero
("adaLN-Zero"), so every block starts as the identity and the untrained network outputs 0. The final
layer maps each token back to a P×P patch (``layers.unpatchify``).

The network predicts whatever the loss asks (velocity by default, x for chapter 08): it returns a tensor
shaped like ``xt``. Sizes follow DiT's presets at course scale; ``PRESETS`` notes the parameter counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from minidiff.layers import MLP, Attention, TimestepEmbedder, modulate, patchify, sincos_2d, unpatchify
from minidiff.unet import count_parameters

# ----------------------------------------------------------------------------------------------------------
# Blocks


def adaln(dim: int, chunks: int) -> nn.Sequential:
    """c (B, dim) → SiLU → Linear to ``chunks`` vectors of ``dim``, weights and bias zero (adaLN-Zero)."""
    layer = nn.Linear(dim, chunks * dim)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return nn.Sequential(nn.SiLU(), layer)


class DiTBlock(nn.Module):
    """x + gate * attn(modulate(norm(x))), then the same with the MLP; shifts, scales and gates from c."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)  # c supplies the affine part
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.ada = adaln(dim, 6)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) tokens, c (B, D) the conditioning vector → (B, T, D)."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)  # (B, D) each
        x = x + gate1[:, None, :] * self.attn(modulate(self.norm1(x), shift1, scale1))
        return x + gate2[:, None, :] * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    """Tokens (B, T, D) → patches (B, T, P*P*C): adaLN (shift, scale) then a zero-initialised Linear."""

    def __init__(self, dim: int, patch_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = adaln(dim, 2)
        self.linear = nn.Linear(dim, patch_dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)  # (B, D) each
        return self.linear(modulate(self.norm(x), shift, scale))


# ----------------------------------------------------------------------------------------------------------
# The model


@dataclass
class DiTConfig:
    """Sizes of a DiT; ``PRESETS`` holds the course's (depth, width, heads)."""

    image_size: int = 32  # pixels (or latent cells) per side
    patch: int = 4  # P: each token is a P×P patch; T = (image_size / P)**2 tokens
    in_channels: int = 3
    out_channels: int | None = None  # default: in_channels
    width: int = 256  # D, the token width
    depth: int = 6  # number of DiTBlocks
    heads: int = 4
    mlp_ratio: float = 4.0
    cond_dim: int | None = None  # a pooled condition (B, cond_dim) added to the time embedding, if set
    map_channels: int | None = None  # K: a map (B, K, H, W) (one-hot classes) added to each token, if set

    def __post_init__(self):
        if self.image_size % self.patch:
            raise ValueError(f"image_size={self.image_size} is not divisible by patch={self.patch}: pick a "
                             "patch size that divides the image size")  # fmt: skip
        if self.width % self.heads or self.width % 4:
            raise ValueError(f"width={self.width} must be divisible by heads={self.heads} and by 4 (the 2-D "
                             "sin-cos positions)")  # fmt: skip

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch) ** 2


PRESETS = {  # DiT's presets are S (12, 384, 6), B (12, 768, 12), L, XL; the course adds smaller ones
    "tiny": dict(depth=4, width=128, heads=4),  # 1.3M parameters; 0.10 GFLOPs per 32x32x3 image at P = 4
    "small": dict(depth=6, width=256, heads=4),  # 7.4M parameters; 0.61 GFLOPs at P = 4
    "base": dict(depth=12, width=384, heads=6),  # DiT-S: 33M parameters; 2.7 GFLOPs at P = 4
}


class DiT(nn.Module):
    """forward(xt (B, C, H, W), t (B,), cond (B, cond_dim) or None, maps (B, K, H, W) or None) → like xt."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        P, C, D = cfg.patch, cfg.in_channels, cfg.width
        self.embed = nn.Linear(P * P * C, D)  # a P×P patch → one token (a conv with stride P, written flat)
        self.register_buffer("pos", sincos_2d(D, cfg.image_size // P)[None], persistent=False)  # (1, T, D)
        self.time = TimestepEmbedder(D)
        self.cond = nn.Linear(cfg.cond_dim, D) if cfg.cond_dim else None
        # a map is patchified like the image and embedded into the same tokens: a per-token condition
        self.map_embed = nn.Linear(P * P * cfg.map_channels, D) if cfg.map_channels else None
        self.blocks = nn.ModuleList(DiTBlock(D, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.final = FinalLayer(D, P * P * (cfg.out_channels or C))

    def condition(self, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The vector c (B, D) every block is modulated by: the time embedding, plus the condition's."""
        c = self.time(t)
        if self.cond is not None:
            if cond is None:
                raise ValueError(f"this DiT takes a condition (B, {self.cfg.cond_dim}): pass cond, or zeros "
                                 "for none")  # fmt: skip
            c = c + self.cond(cond)
        elif cond is not None:
            raise ValueError("this DiT was built without cond_dim: build it with DiTConfig(cond_dim=...)")
        return c

    def map_tokens(self, maps: torch.Tensor | None, xt: torch.Tensor) -> torch.Tensor | None:
        """The map's share of each token (B, T, D), or None for a DiT without maps."""
        K = self.cfg.map_channels
        if self.map_embed is None:
            if maps is not None:
                raise ValueError("this DiT was built without map_channels: use DiTConfig(map_channels=K)")
            return None
        want = (len(xt), K, *xt.shape[-2:])
        if maps is None:
            raise ValueError(f"this DiT is conditioned on a map {want}: pass maps=, or zeros for no map")
        if tuple(maps.shape) != want or not maps.is_floating_point():
            raise ValueError(f"maps: expected a float tensor {want} (a channel per class, like the one-hot "
                             f"maps of scenes.sample), got {maps.dtype} {tuple(maps.shape)}")  # fmt: skip
        return self.map_embed(patchify(maps.to(xt.dtype), self.cfg.patch))

    def inputs(self, xt: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None,
               maps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """The blocks' inputs: tokens (B, T, D) (patches, positions, map) and the vector c (B, D)."""
        cfg = self.cfg
        if xt.ndim != 4 or xt.shape[1] != cfg.in_channels or tuple(xt.shape[-2:]) != (cfg.image_size,) * 2:
            raise ValueError(f"expected xt (B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}), got "
                             f"{tuple(xt.shape)}")  # fmt: skip
        x = self.embed(patchify(xt, cfg.patch)) + self.pos  # (B, T, D)
        if (from_map := self.map_tokens(maps, xt)) is not None:
            x = x + from_map  # (B, T, D): each token also sees its patch of the map
        return x, self.condition(t.expand(len(xt)) if t.ndim == 0 else t, cond)  # c: (B, D)

    def outputs(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The last blocks' tokens (B, T, D) → the prediction (B, C_out, H, W)."""
        size = self.cfg.image_size
        return unpatchify(self.final(x, c), self.cfg.patch, size, size)

    def forward(self, xt: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None,
                maps: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        x, c = self.inputs(xt, t, cond, maps)
        for block in self.blocks:
            x = block(x, c)
        return self.outputs(x, c)


@torch.no_grad()
def gflops(model: nn.Module, shape: tuple[int, ...], **kwargs) -> float:
    """Forward GFLOPs per image at input ``shape`` (C, H, W), counted by torch's FlopCounterMode (matrix
    multiplications and convolutions, 2 per multiply-add; the norms and activations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    x, t = torch.zeros(1, *shape, device=device), torch.full((1,), 0.5, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x, t, **kwargs)
    return counter.get_total_flops() / 1e9


__all__ = ["DiT", "DiTConfig", "DiTBlock", "FinalLayer", "PRESETS", "adaln", "count_parameters", "gflops"]
