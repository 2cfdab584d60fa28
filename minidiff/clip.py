"""A small CLIP: a text transformer and a ViT image encoder trained to agree (chapter 04).

CLIP (Radford et al. 2021, arXiv:2103.00020, Fig. 3) embeds images and captions in one space, both vectors
of unit length, and trains with a symmetric InfoNCE loss: in a batch of N pairs, image i must pick caption i
out of N, and caption i image i, with cosine similarities scaled by a learned ``logit_scale`` (1 / the
temperature), clamped at 100 as in the paper. Chapter 05 cross-attends to the text encoder's per-token
features and chapter 06 turns prompts into them. Read top to bottom: helpers → blocks → encoders → config →
model → presets. Tokens are (B, L) ids from ``minidiff.text`` (0 = padding); images are (B, 3, H, W).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from minidiff.layers import MLP, Attention, patchify, sincos_2d
from minidiff.metrics import check_images
from minidiff.text import Tokenizer, attention_mask

MAX_LOGIT_SCALE = math.log(100)  # CLIP clamps the learned scale at 100 "to prevent training instability"

# ----------------------------------------------------------------------------------------------------------
# Helpers


def clip_loss(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE on scaled similarities (N, N), image i ↔ caption i on the diagonal (CLIP, Fig. 3):
    the mean of cross-entropy over each row (image → captions) and over each column (caption → images)."""
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(
            f"logits must be square (N, N), image i paired with caption i; got {tuple(logits.shape)}"
        )
    labels = torch.arange(len(logits), device=logits.device)  # pair i sits at (i, i)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def check_tokens(tokens: torch.Tensor, vocab_size: int, max_len: int) -> torch.Tensor:
    """``tokens`` as (B, L) int64 ids, or a ValueError that says what to change."""
    if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.int32, torch.int64):
        raise ValueError(
            "tokens: expected an integer tensor (B, L) of ids: make it with model.tokenizer(texts)"
        )
    if tokens.ndim != 2 or tokens.shape[1] > max_len or tokens.shape[0] == 0:
        raise ValueError(f"tokens: expected shape (B, L) with B >= 1 and L <= {max_len}, got "
                         f"{tuple(tokens.shape)}: one prompt? use tokens[None]")  # fmt: skip
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        raise ValueError(f"tokens: ids must lie in [0, {vocab_size}): were they made by another tokenizer?")
    if not attention_mask(tokens).any(dim=1).all():
        raise ValueError("tokens: a row is all padding (an empty prompt): give every prompt a word or more")
    return tokens.long()


# ----------------------------------------------------------------------------------------------------------
# Blocks


class Block(nn.Module):
    """A pre-LayerNorm transformer block (GPT-2, ViT): x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)  # its mask leaves padding out of every softmax
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio * dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask=mask)  # (B, T, D)
        return x + self.mlp(self.norm2(x))


# ----------------------------------------------------------------------------------------------------------
# Encoders


class TextEncoder(nn.Module):
    """Ids (B, L) → per-token features (B, L, D) and a pooled vector (B, D): the mean of the real tokens.

    Token + learned position embeddings, pre-LN blocks that never attend to padding, a final LayerNorm.
    """

    def __init__(self, vocab_size: int, max_len: int, width: int, depth: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        self.token_embed = nn.Embedding(vocab_size, width)
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, max_len, width))
        nn.init.normal_(self.token_embed.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = check_tokens(tokens, self.vocab_size, self.max_len)
        mask = attention_mask(tokens)  # (B, L)
        x = self.token_embed(tokens) + self.pos_embed[:, : tokens.shape[1]]  # (B, L, D)
        for block in self.blocks:
            x = block(x, mask)
        features = self.norm(x)  # (B, L, D)
        weights = mask[..., None].to(features.dtype)  # (B, L, 1)
        pooled = (features * weights).sum(1) / weights.sum(1)  # (B, D): mean over the real tokens only
        return features, pooled


class ImageEncoder(nn.Module):
    """A ViT (Dosovitskiy et al. 2021): P×P patches → linear embedding + fixed 2-D sin-cos positions →
    pre-LN blocks → LayerNorm → a pooled vector (B, D): a learned [CLS] token's output, or the patch mean."""

    def __init__(self, image_size: int, patch: int, width: int, depth: int, heads: int, mlp_ratio: int = 4,
                 pool: str = "cls"):  # fmt: skip
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size={image_size} is not divisible by patch={patch}: pick a divisor")
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool={pool!r}: use 'cls' or 'mean'")
        self.image_size, self.patch, self.pool = image_size, patch, pool
        self.patch_embed = nn.Linear(3 * patch * patch, width)
        self.register_buffer("pos_embed", sincos_2d(width, image_size // patch)[None], persistent=False)
        self.cls = nn.Parameter(0.02 * torch.randn(1, 1, width)) if pool == "cls" else None
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(patchify(images, self.patch)) + self.pos_embed  # (B, T, D)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1)  # (B, 1 + T, D)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x[:, 0] if self.cls is not None else x.mean(1)  # (B, D)


# ----------------------------------------------------------------------------------------------------------
# Config and model


@dataclass
class CLIPConfig:
    """The shape of a CLIP; ``vocab_size`` and ``max_len`` must match the tokenizer that makes its ids."""

    vocab_size: int = 468
    max_len: int = 32
    text_width: int = 128
    text_depth: int = 3
    text_heads: int = 4
    image_size: int = 32
    patch: int = 4
    image_width: int = 128
    image_depth: int = 4
    image_heads: int = 4
    embed_dim: int = 128  # the shared space both encoders project to
    mlp_ratio: int = 4
    image_pool: str = "cls"  # "cls" or "mean"
    temperature: float = 0.07  # the initial temperature (CLIP's)
    learn_temperature: bool = True


class CLIP(nn.Module):
    """Two encoders and two projections into one space; ``forward(images, tokens)`` → logits (B, B)."""

    def __init__(self, cfg: CLIPConfig, tokenizer: Tokenizer | None = None):
        super().__init__()
        if tokenizer is not None and (len(tokenizer) != cfg.vocab_size or tokenizer.max_len != cfg.max_len):
            raise ValueError(
                f"the tokenizer has {len(tokenizer)} tokens and max_len {tokenizer.max_len}, the config "
                f"{cfg.vocab_size} and {cfg.max_len}: build the config from the tokenizer (clip.config_for)"
            )
        if not 0 < cfg.temperature <= 1:
            raise ValueError(f"temperature={cfg.temperature}: use a value in (0, 1], e.g. CLIP's 0.07")
        self.cfg, self.tokenizer = cfg, tokenizer
        self.text = TextEncoder(
            cfg.vocab_size, cfg.max_len, cfg.text_width, cfg.text_depth, cfg.text_heads, cfg.mlp_ratio
        )
        self.image = ImageEncoder(
            cfg.image_size,
            cfg.patch,
            cfg.image_width,
            cfg.image_depth,
            cfg.image_heads,
            cfg.mlp_ratio,
            cfg.image_pool,
        )
        self.text_proj = nn.Linear(cfg.text_width, cfg.embed_dim, bias=False)
        self.image_proj = nn.Linear(cfg.image_width, cfg.embed_dim, bias=False)
        # stored as a log so it stays positive; a fixed temperature is a buffer-like parameter with no grad
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature)))
        self.logit_scale.requires_grad_(cfg.learn_temperature)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale) clamped to at most 100: similarities are multiplied by it (1 / temperature)."""
        return self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()

    def encode_text_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token text features (B, L, text_width) and their mask (B, L): what chapter 05 attends to."""
        features, _ = self.text(tokens)
        return features, attention_mask(tokens)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Ids (B, L) → unit vectors (B, embed_dim) in the shared space."""
        _, pooled = self.text(tokens)
        return F.normalize(self.text_proj(pooled), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, image_size, image_size) in [-1, 1] → unit vectors (B, embed_dim)."""
        images = check_images(images)
        if images.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            size = self.cfg.image_size
            raise ValueError(f"images are {tuple(images.shape[-2:])}, this CLIP reads {size}x{size}: resize "
                             f"with F.interpolate(x, size={size}, mode='area')")  # fmt: skip
        return F.normalize(self.image_proj(self.image(images)), dim=-1)

    def encode_prompts(self, texts) -> torch.Tensor:
        """Prompts (str or list of str) → unit vectors (B, embed_dim), through the attached tokenizer."""
        if self.tokenizer is None:
            raise ValueError("this CLIP has no tokenizer: pass one, CLIP(cfg, tokenizer), or use encode_text")
        return self.encode_text(self.tokenizer(texts).to(self.logit_scale.device))

    @torch.no_grad()
    def text_condition(self, texts) -> dict[str, torch.Tensor]:
        """Prompts → what a text-conditioned UNet reads (chapters 05, 06): ``cond`` the pooled unit vector
        (B, embed_dim), ``context`` per-token features (B, L, text_width), ``context_mask`` (B, L)."""
        if self.tokenizer is None:
            raise ValueError("this CLIP has no tokenizer: pass one, CLIP(cfg, tokenizer)")
        ids = self.tokenizer(texts).to(self.logit_scale.device)
        tokens, pooled = self.text(ids)  # one pass: (B, L, text_width), (B, text_width)
        cond = F.normalize(self.text_proj(pooled), dim=-1)  # as encode_text
        return {"cond": cond, "context": tokens, "context_mask": attention_mask(ids)}

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities (B images, B captions): logits[i, j] = scale * <image i, caption j>."""
        return self.scale() * self.encode_image(images) @ self.encode_text(tokens).T


def config_for(tokenizer: Tokenizer, preset: str = "small", **changes) -> CLIPConfig:
    """A preset's config sized for ``tokenizer`` (its vocabulary and max_len), with ``changes`` applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
    return CLIPConfig(**{**PRESETS[preset], "vocab_size": len(tokenizer), "max_len": tokenizer.max_len,
                         **changes})  # fmt: skip


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (the fixed temperature included)."""
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------------
# Presets (the vocabulary and max_len come from the tokenizer: see config_for)

PRESETS = {
    "tiny": dict(text_width=32, text_depth=1, text_heads=2, image_width=32, image_depth=1, image_heads=2,
                 embed_dim=32, patch=8),  # tests and checks
    "small": dict(text_width=96, text_depth=2, text_heads=4, image_width=96, image_depth=3, image_heads=4,
                  embed_dim=96, patch=4),  # cpu budget
    "base": dict(text_width=192, text_depth=4, text_heads=6, image_width=192, image_depth=6, image_heads=6,
                 embed_dim=192, patch=4),  # gpu budget
}  # fmt: skip
