"""The UNet checks in minidiff.checks pass on the reference and fail, with a useful hint, on broken copies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minidiff import checks, layers, unet


def test_reference_passes_every_check(capsys):
    checks.check_timestep_embedding(layers.timestep_embedding)
    checks.check_resblock(unet.ResBlock)
    checks.check_attention(layers.Attention)
    checks.check_attention(layers.Attention, cross=True)
    checks.check_attn_block(unet.AttnBlock)
    checks.check_unet(unet.UNet)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 20 and all(line.startswith("✓ ") for line in lines)


def test_check_unet_accepts_a_model_and_leaves_it_untouched():
    torch.manual_seed(0)
    cfg = unet.UNetConfig(base_channels=8, channel_mults=(1, 2), attn_levels=(1,), heads=2, cond_dim=3)
    model = unet.UNet(cfg)
    before = {name: p.clone() for name, p in model.state_dict().items()}
    checks.check_unet(model)
    assert all(torch.equal(before[name], p) for name, p in model.state_dict().items())
    with pytest.raises(AssertionError, match="self.cfg"):
        checks.check_unet(torch.nn.Conv2d(3, 3, 1))


# ---- broken timestep embeddings


def test_timestep_embedding_hints():
    def swapped(t, dim):
        emb = layers.timestep_embedding(t, dim)
        return torch.cat([emb[:, dim // 2 :], emb[:, : dim // 2]], dim=1)

    with pytest.raises(AssertionError, match="swapped"):
        checks.check_timestep_embedding(swapped)
    with pytest.raises(AssertionError, match="1000"):
        checks.check_timestep_embedding(lambda t, dim: layers.timestep_embedding(t / 1000, dim))
    with pytest.raises(AssertionError, match="expected shape"):
        checks.check_timestep_embedding(lambda t, dim: layers.timestep_embedding(t, dim)[:, :-1])
    with pytest.raises(AssertionError, match="values differ"):
        checks.check_timestep_embedding(lambda t, dim: layers.timestep_embedding(t, dim, max_period=100))


# ---- broken ResBlocks


class ResBlockWithoutSkip(unet.ResBlock):
    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x))) + self.emb_proj(F.silu(emb))[:, :, None, None]
        return self.conv2(self.dropout(F.silu(self.norm2(h))))


class ResBlockNotZeroInit(unet.ResBlock):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        torch.nn.init.normal_(self.conv2.weight)


class ResBlockRenamed(unet.ResBlock):
    """`emb_proj` registered as `time_proj`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_proj = self.emb_proj
        del self.emb_proj
        object.__setattr__(self, "emb_proj", self.time_proj)  # forward still finds it; not registered twice


class ResBlockEmbTooNarrow(unet.ResBlock):
    def __init__(self, in_ch, out_ch, emb_dim, dropout=0.0):
        super().__init__(in_ch, out_ch, emb_dim, dropout)
        self.emb_proj = torch.nn.Linear(emb_dim, in_ch)  # should project to out_ch


class ResBlockTimeBeforeNorm(unet.ResBlock):
    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h)))) + self.emb_proj(F.silu(emb))[:, :, None, None]
        return self.skip(x) + h


@pytest.mark.parametrize(
    "broken, match",
    [
        (ResBlockWithoutSkip, "add the residual"),
        (ResBlockNotZeroInit, "zero-initialise conv2"),
        (ResBlockRenamed, r"missing parameter `emb_proj.weight`.*Linear named `emb_proj`"),
        (ResBlockTimeBeforeNorm, "values differ"),
        (ResBlockEmbTooNarrow, r"`emb_proj.weight` has shape \(32, 16\), expected \(64, 16\)"),
    ],
)
def test_check_resblock_fails_on_broken_blocks(broken, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_resblock(broken)


# ---- broken attention


class AttentionWithoutScale(layers.Attention):
    def forward(self, x, context=None):
        split = lambda tokens: tokens.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, heads, T, -1)
        q, k, v = split(self.to_q(x)), split(self.to_k(x)), split(self.to_v(x))
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # forgot the 1 / sqrt(D / heads)
        return self.to_out(out.transpose(1, 2).flatten(2))


class AttnBlockWithoutResidual(unet.AttnBlock):
    def forward(self, x):
        return super().forward(x) - x


def test_check_attention_fails_on_broken_versions():
    with pytest.raises(AssertionError, match="values differ"):
        checks.check_attention(AttentionWithoutScale)
    with pytest.raises(AssertionError, match="missing parameter `to_q.weight`"):
        checks.check_attention(lambda dim, heads: torch.nn.MultiheadAttention(dim, heads, batch_first=True))
    with pytest.raises(AssertionError, match="add the residual"):
        checks.check_attn_block(AttnBlockWithoutResidual)


# ---- broken UNets


class UNetWithoutSkips(unet.UNet):
    """The up path built as if there were no skip connections: its first convs are too narrow."""

    def __init__(self, cfg):
        super().__init__(cfg)
        emb_dim = 4 * cfg.base_channels
        ch = cfg.base_channels * cfg.channel_mults[-1]
        for stage in self.up:
            for i, res in enumerate(stage.res):
                stage.res[i] = unet.ResBlock(ch, res.conv1.out_channels, emb_dim, groups=cfg.groups)
                ch = res.conv1.out_channels


class UNetZeroSkips(unet.UNet):
    """Right shapes, but the skips carry zeros instead of the down path's features."""

    def forward(self, xt, t, cond=None):
        real_cat = torch.cat
        try:
            torch.cat = lambda tensors, dim: real_cat([tensors[0], torch.zeros_like(tensors[1])], dim=dim)
            return super().forward(xt, t, cond)
        finally:
            torch.cat = real_cat


class UNetRenamed(unet.UNet):
    """`out_conv` registered as `final`."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.final = self.out_conv
        del self.out_conv
        object.__setattr__(self, "out_conv", self.final)


class UNetNotZeroInit(unet.UNet):
    def __init__(self, cfg):
        super().__init__(cfg)
        torch.nn.init.normal_(self.out_conv.weight)


@pytest.mark.parametrize(
    "broken, match",
    [
        (UNetWithoutSkips, r"missing parameter `up\.0\.res\.0\.skip\.weight`.*torch\.cat"),
        (UNetZeroSkips, "values differ"),
        (UNetRenamed, r"missing parameter `out_conv.weight`.*out_norm"),
        (UNetNotZeroInit, "exactly zero"),
    ],
)
def test_check_unet_fails_on_broken_unets(broken, match):
    with pytest.raises(AssertionError, match=match):
        checks.check_unet(broken)
