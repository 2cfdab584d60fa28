"""Training throughput of chapter 06's text UNet against diffusers.UNet2DConditionModel, on the latents.

    python benchmarks/cond_unet_vs_diffusers.py            # recipes.ldm preset "small", batch 64, 4x8x8
    python benchmarks/cond_unet_vs_diffusers.py --quick    # a smoke run (< ~30 s)

Both models get the layout of ``minidiff.recipes.ldm.PRESETS[preset]`` for the cpu budget's CLIP (pooled
text 96, tokens 96 wide, 32 of them with 8 real): the same widths, levels, ResBlocks per level, heads,
attention levels (cross-attention blocks in diffusers), the pooled text added to the time embedding
(diffusers: ``class_embed_type="projection"``) and a key mask over the text padding. Not matched, and
reported: diffusers' transformer blocks add a GEGLU feed-forward layer and in/out projections that our
attention blocks do not have, so it holds more parameters at the same layout; a third model, ours widened
until its parameter count is nearest diffusers', measures at about equal parameters too. A training step is
forward + v-loss + backward + AdamW, timed by ``throughput.images_per_second`` (interleaved after warm-up,
median). Nothing is downloaded: diffusers builds a random model from its config.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from throughput import images_per_second_of, main, result, table, v_loss

from minidiff.recipes.ldm import PRESETS
from minidiff.unet import UNet, UNetConfig, count_parameters

TITLE = "Training throughput: the text UNet vs diffusers.UNet2DConditionModel"
TEXT = dict(cond_dim=96, context_dim=96, tokens=32, real_tokens=8)  # the cpu budget's CLIP ("small" preset)


def diffusers_unet(cfg: UNetConfig, size: int) -> torch.nn.Module:
    """The diffusers.UNet2DConditionModel with the layout of ``UNet(cfg)``."""
    from diffusers import UNet2DConditionModel

    widths = tuple(cfg.base_channels * mult for mult in cfg.channel_mults)
    levels = range(len(widths))
    return UNet2DConditionModel(
        sample_size=size,
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels or cfg.in_channels,
        block_out_channels=widths,
        layers_per_block=cfg.blocks_per_level,
        down_block_types=tuple(
            "CrossAttnDownBlock2D" if i in cfg.attn_levels else "DownBlock2D" for i in levels
        ),
        up_block_types=tuple(
            "CrossAttnUpBlock2D" if i in cfg.attn_levels else "UpBlock2D" for i in reversed(levels)
        ),  # deepest level first
        mid_block_type="UNetMidBlock2DCrossAttn",
        cross_attention_dim=cfg.context_dim,
        attention_head_dim=cfg.heads,  # diffusers reads this as the number of heads (a legacy name)
        norm_num_groups=min(cfg.groups, widths[0]),
        class_embed_type="projection",  # the pooled text joins the time embedding, as our cond_embed does
        projection_class_embeddings_input_dim=cfg.cond_dim,
    )


class _DiffusersAdapter(torch.nn.Module):
    """Our call convention (t in [0, 1], cond, context, context_mask) to diffusers' (timestep t * 1000)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, xt, t, cond, context, context_mask):
        return self.model(xt, t * 1000, encoder_hidden_states=context, class_labels=cond,
                          encoder_attention_mask=context_mask).sample  # fmt: skip


def _widened(cfg: UNetConfig, target: int) -> UNetConfig:
    """``cfg`` with the base width (a multiple of 4) whose parameter count is nearest ``target``."""
    with torch.device("meta"):
        sizes = {base: count_parameters(UNet(replace(cfg, base_channels=base))) for base in range(8, 257, 4)}
    return replace(cfg, base_channels=min(sizes, key=lambda base: abs(sizes[base] - target)))


def run(quick: bool = False, preset: str = "small", batch_size: int = 64, size: int = 8) -> dict:
    """Measure both models in this one run; returns parameter counts, img/s and the ratio (ours / theirs)."""
    cfg = UNetConfig(
        **PRESETS[preset], in_channels=4, cond_dim=TEXT["cond_dim"], context_dim=TEXT["context_dim"]
    )
    torch.manual_seed(0)
    models = {"minidiff": UNet(cfg), "diffusers": _DiffusersAdapter(diffusers_unet(cfg, size))}
    models["minidiff_wide"] = UNet(_widened(cfg, count_parameters(models["diffusers"])))
    params = {name: count_parameters(model) for name, model in models.items()}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, cfg.in_channels, size, size, generator=g)  # scaled latents: std ~1
    noise = torch.randn(x.shape, generator=g)
    t = torch.rand(batch_size, generator=g)
    mask = torch.arange(TEXT["tokens"]).expand(batch_size, -1) < TEXT["real_tokens"]  # (B, L): real tokens
    text = {"cond": torch.randn(batch_size, TEXT["cond_dim"], generator=g),
            "context": torch.randn(batch_size, TEXT["tokens"], TEXT["context_dim"], generator=g),
            "context_mask": mask}  # fmt: skip
    img_s = images_per_second_of(models, v_loss(x, noise, t, **text), batch_size, quick)
    wide = {"minidiff_wide_base_channels": models["minidiff_wide"].cfg.base_channels,
            "minidiff_wide_params": params["minidiff_wide"],
            "minidiff_wide_img_s": round(img_s["minidiff_wide"], 1),
            "ratio_equal_params": round(img_s["minidiff_wide"] / img_s["diffusers"], 2)}  # fmt: skip
    resolution = f"{size}x{size}x{cfg.in_channels} latents, {TEXT['tokens']} text tokens"
    return result(params, img_s, quick, **wide, preset=preset, batch_size=batch_size, preset_of="recipes.ldm",
                  resolution=resolution)  # fmt: skip


def lines(result: dict) -> list[str]:
    """The result as a markdown table."""
    rows = [
        ("minidiff.unet.UNet (text)", result["minidiff_params"], result["minidiff_img_s"]),
        ("diffusers.UNet2DConditionModel", result["diffusers_params"], result["diffusers_img_s"]),
        (f"minidiff.unet.UNet (text), widened to base {result['minidiff_wide_base_channels']}",
         result["minidiff_wide_params"], result["minidiff_wide_img_s"]),
    ]  # fmt: skip
    return table(rows, [("ratio (minidiff / diffusers), same layout", result["ratio"]),
                        ("ratio (widened minidiff / diffusers), about equal parameters",
                         result["ratio_equal_params"])])  # fmt: skip


if __name__ == "__main__":
    main(__doc__, run, lines, PRESETS, batch_size=64)
