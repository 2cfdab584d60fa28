"""Training throughput of minidiff.unet.UNet against diffusers.UNet2DModel at a matched configuration.

    python benchmarks/unet_vs_diffusers.py            # preset "small", batch 32, 32x32x3
    python benchmarks/unet_vs_diffusers.py --quick    # a smoke run (< ~40 s)

Both models get the same widths, levels, blocks per level, attention levels and heads (parameter counts
within 5 %, both reported). A training step is forward + MSE flow-matching loss + backward + AdamW step.
The steps are timed by ``throughput.images_per_second`` (interleaved after warm-up, median). Nothing is
downloaded: diffusers builds a randomly initialised model from its config.
"""

from __future__ import annotations

import torch
from throughput import check_matched, images_per_second_of, main, result, table, v_loss

from minidiff.unet import PRESETS, UNet, UNetConfig, count_parameters

TITLE = "Training throughput: minidiff.unet vs diffusers.UNet2DModel"


def diffusers_unet(cfg: UNetConfig, size: int = 32) -> torch.nn.Module:
    """The diffusers.UNet2DModel with the same layout as ``UNet(cfg)`` (DDPM-style, like ours)."""
    from diffusers import UNet2DModel

    widths = tuple(cfg.base_channels * mult for mult in cfg.channel_mults)
    levels = range(len(widths))
    return UNet2DModel(
        sample_size=size,
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels or cfg.in_channels,
        block_out_channels=widths,
        layers_per_block=cfg.blocks_per_level,
        down_block_types=tuple("AttnDownBlock2D" if i in cfg.attn_levels else "DownBlock2D" for i in levels),
        up_block_types=tuple(
            "AttnUpBlock2D" if i in cfg.attn_levels else "UpBlock2D" for i in reversed(levels)
        ),  # deepest level first
        attention_head_dim=widths[-1] // cfg.heads,  # heads = channels / head dim, as in our AttnBlock
        norm_num_groups=min(cfg.groups, widths[0]),
        dropout=cfg.dropout,
    )


class _DiffusersAdapter(torch.nn.Module):
    """Calls diffusers with our convention: t in [0, 1] becomes its timestep t * 1000; returns .sample."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.model(xt, t * 1000).sample


def run(quick: bool = False, preset: str = "small", batch_size: int = 32, size: int = 32) -> dict:
    """Measure both models in this one run; returns parameter counts, img/s and the ratio (ours / theirs)."""
    cfg = UNetConfig(**PRESETS[preset])
    torch.manual_seed(0)
    models = {"minidiff": UNet(cfg), "diffusers": _DiffusersAdapter(diffusers_unet(cfg, size))}
    params = {name: count_parameters(model) for name, model in models.items()}
    check_matched(params, 0.05)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, cfg.in_channels, size, size, generator=generator) * 2 - 1
    noise = torch.randn(x.shape, generator=generator)
    t = torch.rand(batch_size, generator=generator)
    img_s = images_per_second_of(models, v_loss(x, noise, t), batch_size, quick)
    return result(params, img_s, quick, preset=preset, batch_size=batch_size,
                  resolution=f"{size}x{size}x{cfg.in_channels}")  # fmt: skip


def lines(result: dict) -> list[str]:
    """The result as a markdown table."""
    rows = [("minidiff.unet.UNet", result["minidiff_params"], result["minidiff_img_s"]),
            ("diffusers.UNet2DModel", result["diffusers_params"], result["diffusers_img_s"])]  # fmt: skip
    return table(rows, [("ratio (minidiff / diffusers)", result["ratio"])])


if __name__ == "__main__":
    main(__doc__, run, lines, PRESETS, batch_size=32)
