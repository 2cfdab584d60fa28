"""The CLIP checks in minidiff.checks pass on the reference and fail, with a useful hint, on broken copies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minidiff import checks, clip, text
from minidiff.layers import patchify


def reference_loss(image, text_features, logit_scale):
    cosine = F.normalize(image, dim=-1) @ F.normalize(text_features, dim=-1).T
    return clip.clip_loss(logit_scale.exp() * cosine)


def test_reference_passes_every_check(capsys):
    checks.check_bpe(lambda texts, merges: text.train_bpe(texts, merges).merges)
    checks.check_clip_loss(reference_loss)
    checks.check_text_encoder(clip.TextEncoder)
    checks.check_image_encoder(clip.ImageEncoder)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 9 and all(line.startswith("✓ ") for line in lines)


# ---- broken BPE


def test_bpe_hints():
    with pytest.raises(AssertionError, match="end-of-word"):  # no </w>: merges made on bare characters
        checks.check_bpe(
            lambda texts, merges: [
                (a.replace(text.END, ""), b.replace(text.END, ""))
                for a, b in text.train_bpe(texts, merges).merges
            ]
        )
    with pytest.raises(AssertionError, match="merges, expected"):
        checks.check_bpe(lambda texts, merges: text.train_bpe(texts, merges - 1).merges)
    with pytest.raises(AssertionError, match="on a tie"):  # counts by distinct word, not by frequency
        checks.check_bpe(lambda texts, merges: text.train_bpe(sorted(set(texts)), merges).merges)


# ---- broken losses


@pytest.mark.parametrize(
    "broken, match",
    [
        (
            lambda i, t, s: F.cross_entropy(
                s.exp() * F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T, torch.arange(len(i))
            ),
            "one-sided",
        ),  # fmt: skip
        (
            lambda i, t, s: clip.clip_loss(F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T / s.exp()),
            "not divide",
        ),
        (lambda i, t, s: clip.clip_loss(s * F.normalize(i, dim=-1) @ F.normalize(t, dim=-1).T), "logarithm"),
        (lambda i, t, s: clip.clip_loss(s.exp() * i @ t.T), "normalise"),
        (lambda i, t, s: reference_loss(i, t, s) * 2, "values differ"),
        (lambda i, t, s: reference_loss(i, t, s)[None], "0-d tensor"),
    ],
)
def test_clip_loss_hints(broken, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_clip_loss(broken)


def test_clip_loss_stub_is_not_written_yet():
    def my_clip_loss(image, text_features, logit_scale):
        """Normalise, scale by exp(logit_scale), average both cross-entropies."""
        raise NotImplementedError("normalise, scale, both directions")

    with pytest.raises(checks.NotWrittenYet, match="my_clip_loss is not written yet"):
        checks.check_clip_loss(my_clip_loss)


# ---- broken encoders


class MeanOverPadding(clip.TextEncoder):
    def forward(self, tokens):
        features, _ = super().forward(tokens)
        return features, features.mean(1)


class AttendsToPadding(clip.TextEncoder):
    def forward(self, tokens):
        x = self.token_embed(tokens) + self.pos_embed[:, : tokens.shape[1]]
        for block in self.blocks:
            x = block(x)  # no mask
        features = self.norm(x)
        weights = (tokens != 0)[..., None].float()
        return features, (features * weights).sum(1) / weights.sum(1)


class RenamedTextEncoder(clip.TextEncoder):
    def __init__(self, *args):
        super().__init__(*args)
        self.embed = self.token_embed
        del self.token_embed


def test_text_encoder_hints():
    with pytest.raises(AssertionError, match="real tokens only"):
        checks.check_text_encoder(MeanOverPadding)
    with pytest.raises(AssertionError, match="mask to every block"):
        checks.check_text_encoder(AttendsToPadding)
    with pytest.raises(AssertionError, match="token_embed"):
        checks.check_text_encoder(RenamedTextEncoder)


class NoPositions(clip.ImageEncoder):
    def forward(self, images):
        x = torch.cat(
            [self.cls.expand(len(images), -1, -1), self.patch_embed(patchify(images, self.patch))], 1
        )
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


class MeanInsteadOfCLS(clip.ImageEncoder):
    def forward(self, images):
        x = self.patch_embed(patchify(images, self.patch)) + self.pos_embed
        x = torch.cat([self.cls.expand(len(images), -1, -1), x], 1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 1:].mean(1)


class NoFinalNorm(clip.ImageEncoder):
    def forward(self, images):
        x = self.patch_embed(patchify(images, self.patch)) + self.pos_embed
        x = torch.cat([self.cls.expand(len(images), -1, -1), x], 1)
        for block in self.blocks:
            x = block(x)
        return x[:, 0]


def test_image_encoder_hints():
    with pytest.raises(AssertionError, match="sincos_2d"):
        checks.check_image_encoder(NoPositions)
    with pytest.raises(AssertionError, match=r"\[CLS\]"):
        checks.check_image_encoder(MeanInsteadOfCLS)
    with pytest.raises(AssertionError, match="values differ"):
        checks.check_image_encoder(NoFinalNorm)
