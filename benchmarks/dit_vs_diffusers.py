"""Training throughput of minidiff.dit.DiT against diffusers.DiTTransformer2DModel at a matched configuration.

    python benchmarks/dit_vs_diffusers.py            # preset "small", patch 4, batch 64, 32x32x3
    python benchmarks/dit_vs_diffusers.py --quick    # a smoke run

Both transformers get the same depth, width, heads, patch size, MLP ratio (4, tanh GELU) and adaLN-Zero
blocks. diffusers' DiT is class-conditional: it is built with one class (``num_embeds_ada_norm=1``) and
called with label 0. Not matched, and reported: each diffusers block embeds the timestep (and label) again
with its own small MLP, where the paper's DiT (and ours) embeds it once for all blocks, so diffusers holds
about 9 % more parameters at the same layout (the check allows 12 %). A training step is forward + v-loss +
backward + AdamW, timed by ``throughput.images_per_second`` (interleaved after warm-up, median). Nothing
is downloaded: diffusers builds a random model from its config.
"""

from __future__ import annotations

import torch
from throughput import check_matched, images_per_second_of, main, result, table, v_loss

from minidiff.dit import PRESETS, DiT, DiTConfig
from minidiff.unet import count_parameters

TITLE = "Training throughput: minidiff.dit vs diffusers.DiTTransformer2DModel"


def diffusers_dit(cfg: DiTConfig) -> torch.nn.Module:
    """The diffusers.DiTTransformer2DModel with the layout of ``DiT(cfg)``."""
    from diffusers import DiTTransformer2DModel

    return DiTTransformer2DModel(
        num_attention_heads=cfg.heads,
        attention_head_dim=cfg.width // cfg.heads,
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels or cfg.in_channels,
        num_layers=cfg.depth,
        sample_size=cfg.image_size,
        patch_size=cfg.patch,
        num_embeds_ada_norm=1,
        norm_eps=1e-6,
    )


class _DiffusersAdapter(torch.nn.Module):
    """Our call convention (t in [0, 1]) to diffusers' (timestep t * 1000, class label 0)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros(len(xt), dtype=torch.long, device=xt.device)
        return self.model(xt, timestep=t * 1000, class_labels=labels).sample


def run(quick: bool = False, preset: str = "small", batch_size: int = 64, size: int = 32, patch: int = 4):
    """Measure both models in this one run; returns parameter counts, img/s and the ratio (ours / theirs)."""
    cfg = DiTConfig(**PRESETS[preset], image_size=size, patch=patch)
    torch.manual_seed(0)
    models = {"minidiff": DiT(cfg), "diffusers": _DiffusersAdapter(diffusers_dit(cfg))}
    params = {name: count_parameters(model) for name, model in models.items()}
    check_matched(params, 0.12)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, cfg.in_channels, size, size, generator=generator) * 2 - 1
    noise = torch.randn(x.shape, generator=generator)
    t = torch.rand(batch_size, generator=generator)
    img_s = images_per_second_of(models, v_loss(x, noise, t), batch_size, quick)
    resolution = f"{size}x{size}x{cfg.in_channels}, patch {patch} ({cfg.tokens} tokens)"
    return result(params, img_s, quick, preset=preset, batch_size=batch_size, resolution=resolution)


def lines(result: dict) -> list[str]:
    """The result as a markdown table."""
    rows = [
        ("minidiff.dit.DiT", result["minidiff_params"], result["minidiff_img_s"]),
        ("diffusers.DiTTransformer2DModel", result["diffusers_params"], result["diffusers_img_s"]),
    ]
    return table(rows, [("ratio (minidiff / diffusers)", result["ratio"])])


if __name__ == "__main__":
    main(__doc__, run, lines, PRESETS, batch_size=64)
