"""perturb(model): random weights everywhere, the zero-initialised layers too, so every path carries a
signal."""

from __future__ import annotations

import torch
from torch import nn


def perturb(model: nn.Module, seed: int = 0, std: float = 0.05) -> nn.Module:
    """Add N(0, std²) noise to every parameter (seeded), in place; returns the model."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(std * torch.randn(p.shape, generator=generator))
    return model
