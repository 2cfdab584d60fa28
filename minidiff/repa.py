"""REPA (Yu et al., ICLR 2025): align a middle block's tokens with a frozen encoder's view of the clean image.

    aligned = Aligned(model, features=64, block=2)      # the DiT + a projector head (the only new weights)
    loss, t, alignment = repa.loss(aligned, x, teacher(x), pred="x", cond={"maps": maps}, weight=0.5)
    picture = flow.heun(aligned.model, ...)            # sampling needs the DiT only

A denoiser must work out what the clean image contains before it can say how to reach it. REPA gives it
that for free from an encoder that already knows (the paper: DINOv2): the tokens after block ``block``
(of the *noisy* input) go through a small MLP, the projector, and are pulled towards the encoder's
features of the same patches of the *clean* image, by their cosine similarity, summed into the loss with
``weight``. The encoder is frozen and is not part of the model: pass its features per patch, (B, T, E),
in the DiT's token order (row-major patches). The projector is thrown away after training.

With TREAD (``route``), a block inside the routed span sees only the kept tokens: they are aligned with
the teacher's features of the same patches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minidiff import tread
from minidiff.dit import DiT
from minidiff.flow import flow_loss


class Projector(nn.Module):
    """Tokens (B, T, D) → (B, T, E): a 3-layer MLP with SiLU, as in the paper."""

    def __init__(self, width: int, features: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, features))  # fmt: skip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net(tokens)


class Aligned(nn.Module):
    """A DiT with a projector on the tokens after block ``block`` (1-based: after that many blocks). Train
    this module (its parameters are the DiT's and the projector's); sample from ``.model``."""

    def __init__(self, model: DiT, features: int, block: int, hidden: int | None = None):
        super().__init__()
        if not 1 <= block <= len(model.blocks):
            raise ValueError(f"block={block}: align after one of the DiT's blocks, 1..{len(model.blocks)} "
                             f"(the paper: about a third of the way, here "
                             f"{max(1, len(model.blocks) // 3)})")  # fmt: skip
        self.model, self.block = model, block
        # hidden: twice the token width by default, the paper's ratio (2,048 for SiT-XL's 1,152)
        self.projector = Projector(model.cfg.width, features, hidden or 2 * model.cfg.width)

    def forward(self, xt, t, cond=None, maps=None):
        """The DiT's prediction (dense, no projector): what validation and sampling use."""
        return self.model(xt, t, cond, maps)


def alignment(projected: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Per image (B,): the cosine similarity of each token with its patch's features, averaged over tokens."""
    if projected.shape != features.shape:
        raise ValueError(f"projected tokens {tuple(projected.shape)} and teacher features "
                         f"{tuple(features.shape)} differ: give one feature vector (B, T, E) per DiT token, "
                         "in the DiT's row-major patch order")  # fmt: skip
    return F.cosine_similarity(projected.float(), features.float(), dim=-1).mean(1)


def standardize(features: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Teacher features (B, T, E) shifted and scaled per channel by the mean and spread of ``reference``
    features (N, T, E) of real images. Features after a ReLU/SiLU share a common direction, so the cosine
    of any two is high; standardised, it compares what tells one patch from another."""
    mean, std = reference.mean((0, 1)), reference.std((0, 1)).clamp_min(1e-6)  # (E,) each
    return (features - mean) / std


def forward(aligned: Aligned, xt: torch.Tensor, t: torch.Tensor, cond=None, maps=None, *,
            route: tread.Route | None = None, generator: torch.Generator | None = None):  # fmt: skip
    """The prediction, the projected tokens after ``aligned.block`` blocks (B, T or K, E), and the index of
    those tokens (B, K) when the block sees only the routed ones (else None)."""
    seen = {}

    def keep(i, tokens, index):  # tread.forward shows each block's output; keep the aligned block's
        if i + 1 == aligned.block:
            seen["tokens"], seen["index"] = tokens, index

    out = tread.forward(aligned.model, xt, t, cond, maps, route=route, generator=generator, after_block=keep)
    return out, aligned.projector(seen["tokens"]), seen["index"]


def loss(aligned: Aligned, x: torch.Tensor, features: torch.Tensor, *, weight: float = 0.5, cond=None,
         route: tread.Route | None = None, generator: torch.Generator | None = None,
         **flow_kwargs):  # fmt: skip
    """Per image: ``flow.flow_loss`` plus ``weight`` × (−alignment); returns (loss (B,), t (B,), alignment
    (B,)). ``features`` (B, T, E): the frozen encoder's features of the clean ``x``; ``flow_kwargs`` go to
    ``flow_loss`` (pred="x", ...)."""
    if features.requires_grad:
        raise ValueError("the teacher's features carry gradients: compute them under torch.no_grad() (the "
                         "encoder is frozen)")  # fmt: skip
    seen = {}

    def model(xt, t, cond=None, maps=None):  # the DiT for flow_loss; keeps the projected tokens aside
        out, seen["projected"], seen["index"] = forward(
            aligned, xt, t, cond, maps, route=route, generator=generator
        )
        return out

    flow_part, t = flow_loss(model, x, cond=cond, **flow_kwargs)
    wanted = features if seen["index"] is None else tread.gather(features, seen["index"])
    similarity = alignment(seen["projected"], wanted)
    return flow_part - weight * similarity, t, similarity.detach()


__all__ = ["Aligned", "Projector", "alignment", "forward", "loss", "standardize"]
