"""Checks for chapter 10 (TREAD): the routed forward pass, the kept tokens through the middle blocks only."""

from __future__ import annotations

import torch

from minidiff import tread
from minidiff.checks.core import assert_close, close, learner_code, passed, perturbed
from minidiff.dit import DiT, DiTConfig


def _model() -> DiT:
    """A small DiT of 4 blocks with random weights everywhere (the zero-initialised layers too)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DiT(DiTConfig(image_size=16, patch=4, width=32, depth=4, heads=4))
    return perturbed(model, std=0.05)


def _never_rejoined(model, xt, t, index, start, end):
    """The mistake the check names, written out: the routed tokens' work is never put back."""
    x, c = model.inputs(xt, t)
    for block in model.blocks[:start]:
        x = block(x, c)
    h = tread.gather(x, index)
    for block in model.blocks[start:end]:
        h = block(h, c)
    for block in model.blocks[end:]:  # x, not scatter(x, h, index): h is dropped
        x = block(x, c)
    return model.outputs(x, c)


@learner_code
def check_routed_forward(fn) -> None:
    """``fn(model, xt, t, index, start, end) -> prediction``: blocks[start:end] see only the tokens at
    ``index`` (B, K); the others skip them and rejoin before block ``end``."""
    model = _model()
    generator = torch.Generator().manual_seed(1)
    xt, t = torch.randn(3, 3, 16, 16, generator=generator), torch.rand(3, generator=generator)
    index = tread.choose(3, model.cfg.tokens, 8, torch.Generator().manual_seed(2))  # (3, 8) of 16 tokens
    with torch.no_grad():
        got = fn(model, xt, t, index, 1, 3)
        want = tread.forward(model, xt, t, route=tread.Route(1, 3), index=index)
        dense = model(xt, t)
        never_rejoined = _never_rejoined(model, xt, t, index, 1, 3)
        shared = tread.forward(model, xt, t, route=tread.Route(1, 3), index=index[:1].expand(3, -1))
        late = tread.forward(model, xt, t, route=tread.Route(1, 4), index=index)
        early = tread.forward(model, xt, t, route=tread.Route(0, 3), index=index)
    if not isinstance(got, torch.Tensor) or got.shape != xt.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise AssertionError(f"expected a prediction shaped like xt {tuple(xt.shape)}, got {shape}: put the "
                             "kept tokens back among the others (tread.scatter) before the last blocks and "
                             "model.outputs")  # fmt: skip
    mistakes = [
        (dense, "this is the dense pass: blocks[start:end] must see only the tokens at index (tread.gather), "
                "not all of them"),
        (never_rejoined, "the kept tokens' work is lost: after blocks[start:end], write them back into the "
                         "full sequence (tread.scatter) so every token goes on to the last blocks"),
        (shared, "every image used the first image's index: each image keeps its own tokens, index[b] for "
                 "image b (gather along the token dimension, dim=1)"),
        (late, "the routed tokens rejoin too late: they must be back before block `end`, so blocks[end:] "
               "(here the last block) see every token"),
        (early, "the routing starts too early: blocks[:start] see every token"),
    ]  # fmt: skip
    for wrong, say in mistakes:
        if close(got, wrong):
            raise AssertionError(say)
    assert_close(got, want, "the routed prediction")
    passed("blocks[start:end] see only each image's kept tokens; the others rejoin before block `end`")
    seen = []
    hooks = [
        block.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[1]))
        for block in model.blocks
    ]
    try:
        with torch.no_grad():
            fn(model, xt, t, index, 1, 3)
    finally:
        for hook in hooks:
            hook.remove()
    if seen != [16, 8, 8, 16]:
        raise AssertionError(f"the blocks processed {seen} tokens, expected [16, 8, 8, 16]: the saving "
                             "comes from running the middle blocks on the kept tokens only")  # fmt: skip
    passed("the middle blocks run on 8 of 16 tokens: half the work there")
