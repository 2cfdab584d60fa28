"""Checks for chapter 04 (CLIP): byte-pair merges, the text encoder, the ViT image encoder, the InfoNCE loss.

The learner's encoders must use the parameter names of minidiff.clip, so that the reference's weights load
into them (strict): then the same weights must give the same output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from minidiff.checks.core import assert_close, close, learner_code, passed, perturbed
from minidiff.checks.core import load_reference_weights as _load

_NAME_HINTS = {
    "token_embed": "embed ids with nn.Embedding(vocab_size, width) named `token_embed`",
    "pos_embed": "text positions are a learned nn.Parameter (1, max_len, width) named `pos_embed`",
    "patch_embed": "patches enter through nn.Linear(3 * patch * patch, width) named `patch_embed`",
    "cls": "the [CLS] token is an nn.Parameter (1, 1, width) named `cls`",
    "blocks": "a `blocks` nn.ModuleList of minidiff.clip.Block(width, heads, mlp_ratio)",
    "norm": "the final nn.LayerNorm(width) is named `norm`",
}
CORPUS = ["a red star", "a red circle", "a blue star", "grinning face", "grinning cat", "a small star"] * 2


def _hint(name: str) -> str:
    return next(
        (hint for key, hint in _NAME_HINTS.items() if name.startswith(key)), "copy the reference's names"
    )


@learner_code
def check_bpe(fn) -> None:
    """``fn(texts, merges)`` → the merged pairs in order, like ``text.train_bpe(texts, merges).merges``."""
    from minidiff.text import END, train_bpe

    for texts, merges in ((CORPUS, 8), (["low"] * 5 + ["lower"] * 2 + ["newest"] * 6 + ["widest"] * 3, 10)):
        want = train_bpe(texts, merges).merges
        got = [tuple(pair) for pair in fn(texts, merges)]
        if got and not any(END in a + b for a, b in got):
            raise AssertionError(
                f"no merge has the end-of-word mark {END!r}: mark each word's last character, s t a r{END}"
            )
        if len(got) != len(want):
            raise AssertionError(
                f"{len(got)} merges, expected {len(want)} (stop early only when no pair is left)"
            )
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                tie = "; on a tie in counts take the smallest pair in sorted order"
                raise AssertionError(
                    f"merge {i} is {g}, expected {w}: count pairs weighted by word frequency{tie}"
                )
    passed("the same merges as minidiff.text.train_bpe on two small corpora (ties and the end-of-word mark)")


@learner_code
def check_clip_loss(fn) -> None:
    """``fn(image_features, text_features, logit_scale)`` → symmetric InfoNCE; features unnormalised (N, E),
    ``logit_scale`` the log of the scale (a 0-d tensor)."""
    from minidiff.clip import clip_loss

    g = torch.Generator().manual_seed(0)
    image, text = 3 * torch.randn(6, 8, generator=g), 0.5 * torch.randn(6, 8, generator=g)
    text[2] = image[2] + 0.1 * text[2]  # one pair that agrees, so the two directions differ
    logit_scale = torch.tensor(math.log(1 / 0.07))
    cosine = F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T  # (N, N)
    want = clip_loss(logit_scale.exp() * cosine)
    got = fn(image, text, logit_scale)
    labels = torch.arange(6)
    mistakes = [
        (F.cross_entropy(logit_scale.exp() * cosine, labels), "one-sided: average the rows' and the columns' "
         "cross-entropy (image → caption and caption → image)"),
        (F.cross_entropy((logit_scale.exp() * cosine).T, labels), "one-sided: add image → caption too"),
        (clip_loss(cosine / logit_scale.exp()), "multiply the similarities by exp(logit_scale), not divide"),
        (clip_loss(logit_scale * cosine), "the scale is exp(logit_scale): logit_scale is its logarithm"),
        (clip_loss(logit_scale.exp() * image @ text.T), "normalise both embeddings to unit length first"),
    ]  # fmt: skip
    if not isinstance(got, torch.Tensor) or got.ndim != 0:
        raise AssertionError("return one number: a 0-d tensor (the mean over the batch)")
    for value, hint in mistakes:
        if close(got, value, atol=1e-5):
            raise AssertionError(hint)
    assert_close(got, want, "symmetric InfoNCE", atol=1e-5)
    passed(f"symmetric InfoNCE matches the reference ({got.item():.4f} on 6 random pairs at scale 1/0.07)")
    perfect = fn(torch.eye(4), torch.eye(4), torch.tensor(math.log(100)))
    if not perfect < 1e-6:
        raise AssertionError(
            f"aligned unit vectors at scale 100 should give a loss near 0, got {float(perfect):.3g}"
        )
    passed("aligned pairs at scale 100 give a loss near 0")


def _load_weights(candidate, reference, what: str) -> None:
    _load(candidate, reference, what, _hint)


@learner_code
def check_text_encoder(cls) -> None:
    """``cls(vocab_size, max_len, width, depth, heads)``, forward(tokens) → (features (B, L, D), pooled
    (B, D)), named like minidiff.clip.TextEncoder."""
    from minidiff.clip import TextEncoder

    tokens = torch.tensor([[5, 9, 3, 0, 0, 0], [7, 2, 8, 4, 6, 1]])  # 0 = padding
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference, candidate = perturbed(TextEncoder(12, 6, 16, 2, 2)), cls(12, 6, 16, 2, 2)
    _load_weights(candidate, reference, "TextEncoder")
    with torch.no_grad():
        got, want = candidate(tokens), reference(tokens)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise AssertionError("return a pair: (per-token features (B, L, D), pooled (B, D))")
        if close(got[1], want[0].mean(1), atol=1e-4):
            raise AssertionError("pool over the real tokens only: weight the mean by the mask (tokens != 0)")
        hint = "pre-LN blocks, then the final norm"
        assert_close(got[0][1], want[0][1], f"features of an unpadded prompt (hint: {hint})", atol=1e-4)
        hint = "pass the mask to every block, so no token attends to padding"
        assert_close(got[0][0, :3], want[0][0, :3], f"features of a padded prompt (hint: {hint})", atol=1e-4)
        assert_close(
            got[1], want[1], "pooled vector (hint: the mean of the real tokens' features)", atol=1e-4
        )
    passed(f"same weights → same features {tuple(got[0].shape)} and pooled vector {tuple(got[1].shape)}")


@learner_code
def check_image_encoder(cls) -> None:
    """``cls(image_size, patch, width, depth, heads)``, forward(images) → (B, D), named like
    minidiff.clip.ImageEncoder (pool "cls")."""
    from minidiff.clip import ImageEncoder
    from minidiff.layers import patchify

    images = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference, candidate = perturbed(ImageEncoder(8, 4, 16, 2, 2)), cls(8, 4, 16, 2, 2)
    _load_weights(candidate, reference, "ImageEncoder")
    with torch.no_grad():
        got, want = candidate(images), reference(images)

        def run(positions: bool) -> torch.Tensor:  # the reference's tokens after the final norm (B, 1 + T, D)
            x = reference.patch_embed(patchify(images, 4)) + (reference.pos_embed if positions else 0)
            x = torch.cat([reference.cls.expand(2, -1, -1), x], 1)
            for block in reference.blocks:
                x = block(x)
            return reference.norm(x)

        if close(got, run(positions=False)[:, 0], atol=1e-4):
            raise AssertionError("add the 2-D positions (minidiff.layers.sincos_2d) to the patch embeddings")
        if close(got, run(positions=True)[:, 1:].mean(1), atol=1e-4) or got.shape != want.shape:
            raise AssertionError("prepend the [CLS] token and return its output (token 0), shape (B, D)")
    hint = "patchify → patch_embed + positions → CLS first → blocks → norm → token 0"
    assert_close(got, want, f"pooled image vector (hint: {hint})", atol=1e-4)
    passed(f"same weights → same image vector {tuple(got.shape)}")
