"""Training throughput of minidiff.unet.UNet against diffusers.UNet2DModel at a matched configuration.

    python benchmarks/unet_vs_diffusers.py            # preset "small", batch 32, 32x32x3
    python benchmarks/unet_vs_diffusers.py --quick    # a smoke run (< ~40 s)

Both models get the same widths, levels, blocks per level, attention levels and heads (parameter counts
within 5 %, both reported). A training step is forward + MSE flow-matching loss + backward + AdamW step.
The two models' steps are interleaved (alternating which goes first) after warm-up steps, so load from
other processes hits both alike; img/s is batch size / median step time. Nothing is downloaded:
diffusers builds a randomly initialised model from its config.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from minidiff.unet import PRESETS, UNet, UNetConfig, count_parameters


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


def _train_step(model, optimizer, x, noise, t) -> float:
    """One timed training step on a fixed batch; returns seconds."""
    start = time.perf_counter()
    xt = t[:, None, None, None] * x + (1 - t[:, None, None, None]) * noise  # t = 0 noise, t = 1 data
    loss = F.mse_loss(model(xt, t), x - noise)  # v-loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def run(quick: bool = False, preset: str = "small", batch_size: int = 32, size: int = 32) -> dict:
    """Measure both models in this one run; returns parameter counts, img/s and the ratio (ours / theirs)."""
    warmup, steps = (1, 4) if quick else (3, 20)
    cfg = UNetConfig(**PRESETS[preset])
    torch.manual_seed(0)
    models = {"minidiff": UNet(cfg), "diffusers": _DiffusersAdapter(diffusers_unet(cfg, size))}
    params = {name: count_parameters(model) for name, model in models.items()}
    if abs(params["diffusers"] / params["minidiff"] - 1) > 0.05:
        raise ValueError(f"configurations not matched: {params} differ by more than 5 %")
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-4) for name, model in models.items()}
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, cfg.in_channels, size, size, generator=generator) * 2 - 1
    noise = torch.randn(x.shape, generator=generator)
    t = torch.rand(batch_size, generator=generator)

    times: dict[str, list[float]] = {name: [] for name in models}
    for step in range(warmup + steps):
        order = list(models) if step % 2 == 0 else list(reversed(models))  # alternate who goes first
        for name in order:
            seconds = _train_step(models[name], optimizers[name], x, noise, t)
            if step >= warmup:
                times[name].append(seconds)
    img_s = {name: batch_size / statistics.median(seconds) for name, seconds in times.items()}
    return {
        "minidiff_params": params["minidiff"],
        "diffusers_params": params["diffusers"],
        "minidiff_img_s": round(img_s["minidiff"], 1),
        "diffusers_img_s": round(img_s["diffusers"], 1),
        "ratio": round(img_s["minidiff"] / img_s["diffusers"], 2),
        "preset": preset,
        "batch_size": batch_size,
        "resolution": f"{size}x{size}x{cfg.in_channels}",
        "steps": steps,
        "threads": torch.get_num_threads(),
    }


def markdown(result: dict) -> str:
    return "\n".join(
        [
            f"Training throughput, preset {result['preset']!r}, {result['resolution']}, batch "
            f"{result['batch_size']}, {result['threads']} torch threads, median of {result['steps']} steps",
            "",
            "| model | parameters | img/s |",
            "|---|---:|---:|",
            f"| minidiff.unet.UNet | {result['minidiff_params']:,} | {result['minidiff_img_s']:.1f} |",
            f"| diffusers.UNet2DModel | {result['diffusers_params']:,} | {result['diffusers_img_s']:.1f} |",
            f"| ratio (minidiff / diffusers) | | {result['ratio']:.2f} |",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(markdown(run(quick=args.quick, preset=args.preset, batch_size=args.batch_size)))
