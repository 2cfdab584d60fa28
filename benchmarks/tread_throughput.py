"""Training throughput of one DiT, dense against TREAD-routed (minidiff.tread), on the same batch.

    python benchmarks/tread_throughput.py            # chapter 10's DiT: depth 8, width 128, patch 4, batch 32
    python benchmarks/tread_throughput.py --quick    # a smoke run

The same weights train both ways: dense (every token through every block) and routed (blocks 1-6 see a
random half of the tokens, TREAD's default route). A training step is forward + x-prediction v-loss +
backward + AdamW, timed by ``throughput.images_per_second`` (interleaved after warm-up, median). The
"share of token passes" is what the routed model computes in the blocks, from ``tread.active_tokens``.
"""

from __future__ import annotations

import torch
from throughput import images_per_second, main, repeats, training_step

from minidiff import flow, tread
from minidiff.dit import PRESETS, DiT, DiTConfig
from minidiff.unet import count_parameters

TITLE = "Training throughput: a DiT dense vs TREAD-routed (minidiff.tread)"
CHAPTER_10 = dict(depth=8, width=128, heads=4)  # the tiny preset's width, twice its depth


def run(quick: bool = False, preset: str = "chapter10", batch_size: int = 32, size: int = 32, patch: int = 4):
    """Both ways in this one run: parameters, img/s dense and routed, their ratio, the routed token share."""
    layout = CHAPTER_10 if preset == "chapter10" else PRESETS[preset]
    cfg = DiTConfig(**layout, image_size=size, patch=patch)
    torch.manual_seed(0)
    model = DiT(cfg)
    route = tread.Route()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, cfg.in_channels, size, size, generator=generator) * 2 - 1
    noise = torch.randn(x.shape, generator=generator)
    t = torch.rand(batch_size, generator=generator)

    def loss(fn):
        return lambda model: flow.flow_loss(fn(model), x, pred="x", t=t, noise=noise)[0].mean()

    steps = {
        "dense": training_step(model, loss(lambda m: m)),
        "routed": training_step(model, loss(lambda m: tread.routed(m, route))),
    }
    img_s = images_per_second(steps, batch_size, quick)
    active = tread.active_tokens(cfg.depth, cfg.tokens, route)
    return {
        "params": count_parameters(model),
        "dense_img_s": round(img_s["dense"], 1),
        "routed_img_s": round(img_s["routed"], 1),
        "ratio": round(img_s["routed"] / img_s["dense"], 2),
        "route": f"blocks {route.span(cfg.depth)[0]}-{route.span(cfg.depth)[1] - 1} keep {route.keep:g}",
        "token_share": round(sum(active) / (cfg.depth * cfg.tokens), 3),
        "preset": preset,
        "batch_size": batch_size,
        "resolution": f"{size}x{size}x{cfg.in_channels}, patch {patch} ({cfg.tokens} tokens), "
        f"depth {cfg.depth}",
        "steps": repeats(quick),
        "threads": torch.get_num_threads(),
    }


def lines(result: dict) -> list[str]:
    """The result as a markdown table."""
    return [
        "| training | parameters | img/s | token passes in the blocks |",
        "|---|---:|---:|---:|",
        f"| dense | {result['params']:,} | {result['dense_img_s']:.1f} | 100 % |",
        f"| TREAD, {result['route']} | {result['params']:,} | {result['routed_img_s']:.1f} | "
        f"{100 * result['token_share']:.1f} % |",
        f"| ratio (routed / dense) | | {result['ratio']:.2f} | |",
    ]


if __name__ == "__main__":
    main(__doc__, run, lines, {"chapter10": CHAPTER_10, **PRESETS}, batch_size=32, preset="chapter10")
