"""TREAD (Krause et al., ICCV 2025): route a random part of the tokens past the middle blocks while training.

    route = Route(start=1, end=7, keep=0.5)             # blocks 1..6 see half the tokens, chosen at random
    loss, t = flow.flow_loss(routed(model, route), x, pred="x", cond={"maps": maps})
    denoise = self_guided(model, {"maps": maps}, scale=2.0, route=route)   # at sampling, optional

Chapter 07's DiT runs every token through every block. TREAD keeps that network and its weights (nothing new
to learn) and changes only the path of the tokens during training: after block ``start`` each image keeps a
random ``keep`` share of its tokens for blocks ``start .. end - 1``; the others wait, unchanged, and rejoin
at block ``end``, where every token goes on through the last blocks to the final layer. The loss still
covers every pixel. The middle blocks process fewer tokens (less compute, and attention over fewer tokens
is cheaper still), and the paper reports that the model also learns faster per step. At sampling the model
runs dense (every token through every block), as trained models always do.

The same routed pass is also a weaker version of the model, which the paper uses to guide it (in the spirit
of autoguidance): ``self_guided`` steers the dense prediction away from the routed one,
``routed + scale · (dense − routed)``, with the condition kept in both (no "no map" pass needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from minidiff.dit import DiT
from minidiff.flow import model_output


@dataclass(frozen=True)
class Route:
    """Which blocks see only the kept tokens: ``blocks[start:end]`` (end None: all but the last block)."""

    start: int = 1  # the first block that sees the kept tokens only
    end: int | None = None  # the routed tokens rejoin before this block; None: depth - 1
    keep: float = 0.5  # the share of tokens that go through blocks[start:end]

    def span(self, depth: int) -> tuple[int, int]:
        """(start, end) for a DiT of ``depth`` blocks, checked: 0 ≤ start < end ≤ depth."""
        end = depth - 1 if self.end is None else self.end
        if not 0 <= self.start < end <= depth:
            raise ValueError(f"route blocks [{self.start}, {end}) do not fit a DiT of depth {depth}: use "
                             f"0 <= start < end <= {depth} (TREAD routes the middle: start=1, "
                             f"end={depth - 1})")  # fmt: skip
        if not 0 < self.keep <= 1:
            raise ValueError(f"keep={self.keep}: the share of tokens kept must be in (0, 1] (TREAD uses 0.5)")
        return self.start, end

    def kept(self, tokens: int) -> int:
        """How many of ``tokens`` go through the routed blocks (at least one)."""
        return max(1, round(self.keep * tokens))


def active_tokens(depth: int, tokens: int, route: Route | None) -> list[int]:
    """Tokens each block processes in one forward pass, per image (dense: ``tokens`` everywhere)."""
    if route is None:
        return [tokens] * depth
    start, end = route.span(depth)
    return [route.kept(tokens) if start <= i < end else tokens for i in range(depth)]


# ---- choosing, taking out and putting back tokens ----------------------------------------------------------


def choose(batch: int, tokens: int, kept: int, generator: torch.Generator | None = None,
           device=None) -> torch.Tensor:  # fmt: skip
    """For each image a random set of ``kept`` token indices (B, kept), in increasing order."""
    scores = torch.rand(batch, tokens, generator=generator, device=generator.device if generator else device)
    return scores.argsort(dim=1)[:, :kept].sort(dim=1).values.to(device)


def gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Tokens x (B, T, D) at ``index`` (B, K) → (B, K, D)."""
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))


def scatter(x: torch.Tensor, kept: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, D) with the rows at ``index`` (B, K) replaced by ``kept`` (B, K, D); a new tensor."""
    return x.scatter(1, index[..., None].expand(-1, -1, x.shape[-1]), kept)


# ---- the routed forward pass ------------------------------------------------------------------------------


def forward(model: DiT, xt: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None,
            maps: torch.Tensor | None = None, *, route: Route | None = None,
            generator: torch.Generator | None = None, index: torch.Tensor | None = None,
            after_block=None) -> torch.Tensor:  # fmt: skip
    """The DiT's prediction with ``route`` (None: the ordinary dense pass), same weights, same output shape.

    The kept tokens are drawn by ``choose`` (from ``generator``), or given as ``index`` (B, K).
    ``after_block(i, tokens, index)``, if given, sees what block ``i`` handed on: the kept tokens (B, K, D)
    with their index inside the route, every token (B, T, D) with None elsewhere (REPA reads one block's)."""
    if not (isinstance(model, torch.nn.Module) and hasattr(model, "inputs") and hasattr(model, "blocks")):
        raise TypeError(f"TREAD routes the tokens of a minidiff DiT, got {type(model).__name__}")
    x, c = model.inputs(xt, t, cond, maps)  # (B, T, D), (B, D)
    depth = len(model.blocks)
    start, end = route.span(depth) if route is not None else (depth, depth)
    h = None  # the kept tokens while inside the route
    for i, block in enumerate(model.blocks):
        if i == start:  # the kept tokens go on; the others wait in x
            if index is None:
                index = choose(len(x), x.shape[1], route.kept(x.shape[1]), generator, x.device)  # (B, K)
            h = gather(x, index)
        if h is None:
            x = block(x, c)
        else:
            h = block(h, c)
            if i + 1 == end:  # every token again: the routed ones as they were after block start - 1
                x, h = scatter(x, h, index), None
        if after_block is not None:
            after_block(i, x if h is None else h, None if h is None else index)
    return model.outputs(x, c)


def routed(model: DiT, route: Route = Route(), generator: torch.Generator | None = None):
    """The DiT as a function ``(xt, t, cond=None, maps=None) → prediction`` that routes on every call, for
    ``flow.flow_loss`` and the samplers. Its parameters are the model's: training it trains the model."""
    route.span(len(model.blocks))  # a bad route fails here, not at the first step

    def fn(xt, t, cond=None, maps=None):
        return forward(model, xt, t, cond, maps, route=route, generator=generator)

    return fn


def self_guided(model: DiT, cond, scale: float, route: Route = Route(), seed: int = 0):
    """A denoiser ``(xt, t) → prediction`` guided by the model's own routed pass:
    ``routed + scale · (dense − routed)``; scale 1 is the dense model alone. ``cond`` as in
    ``flow.model_output`` (e.g. ``{"maps": maps}``), given to both passes."""
    weak = routed(model, route, torch.Generator().manual_seed(seed))

    def fn(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        dense = model_output(model, xt, t, cond)
        if scale == 1:
            return dense
        weak_out = model_output(weak, xt, t, cond)
        return weak_out + scale * (dense - weak_out)

    return fn


__all__ = ["Route", "active_tokens", "choose", "forward", "gather", "routed", "scatter", "self_guided"]
