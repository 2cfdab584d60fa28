"""tread.py: routes that are checked, random token sets, a routed pass equal to the blocks written out by
hand, the dense pass unchanged, no new weights, gradients for every block, and self-guidance's formula."""

from __future__ import annotations

import pytest
import torch

from minidiff import flow, tread
from minidiff.checks.core import perturbed
from minidiff.dit import DiT, DiTConfig
from minidiff.train import TrainConfig, train
from minidiff.tread import Route


def make(depth=4, **changes):
    torch.manual_seed(0)
    cfg = DiTConfig(**{**dict(image_size=16, patch=4, width=32, depth=depth, heads=4), **changes})
    return perturbed(DiT(cfg), std=0.05)


def test_route_span_defaults_to_all_but_the_first_and_last_block_and_rejects_what_does_not_fit():
    assert Route().span(8) == (1, 7)
    assert Route(2, 6).span(8) == (2, 6)
    for bad in (Route(3, 3), Route(0, 9), Route(-1, 4), Route(5, 2)):
        with pytest.raises(ValueError, match="do not fit a DiT of depth 8"):
            bad.span(8)
    for keep in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="share of tokens"):
            Route(keep=keep).span(8)
    assert Route(keep=0.5).kept(64) == 32 and Route(keep=0.01).kept(16) == 1


def test_active_tokens_counts_what_each_block_processes():
    assert tread.active_tokens(4, 16, None) == [16] * 4
    assert tread.active_tokens(8, 64, Route(1, 7, 0.5)) == [64, 32, 32, 32, 32, 32, 32, 64]
    assert tread.active_tokens(8, 64, Route(2, 6, 0.25)) == [64, 64, 16, 16, 16, 16, 64, 64]


def test_choose_draws_a_different_sorted_set_of_distinct_tokens_per_image():
    index = tread.choose(64, 16, 8, torch.Generator().manual_seed(0))
    assert index.shape == (64, 8) and index.dtype == torch.long
    assert (index[:, 1:] > index[:, :-1]).all()  # sorted, hence distinct
    assert index.min() >= 0 and index.max() < 16
    assert len({tuple(row) for row in index.tolist()}) > 50  # a fresh set per image
    counts = torch.bincount(index.flatten(), minlength=16).float()
    assert counts.min() > 0.5 * counts.mean()  # every position is kept about equally often
    again = tread.choose(64, 16, 8, torch.Generator().manual_seed(0))
    assert torch.equal(index, again)


def test_gather_and_scatter_take_out_and_put_back_exactly_the_chosen_rows():
    x = torch.randn(2, 6, 3)
    index = torch.tensor([[0, 4], [1, 5]])
    taken = tread.gather(x, index)
    assert torch.equal(taken[0], x[0, [0, 4]]) and torch.equal(taken[1], x[1, [1, 5]])
    back = tread.scatter(x, taken * 10, index)
    assert torch.equal(back[0, [0, 4]], 10 * x[0, [0, 4]]) and torch.equal(
        back[0, [1, 2, 3, 5]], x[0, [1, 2, 3, 5]]
    )
    assert torch.equal(back[1, [1, 5]], 10 * x[1, [1, 5]]) and torch.equal(
        back[1, [0, 2, 3, 4]], x[1, [0, 2, 3, 4]]
    )
    assert not torch.equal(back, x)  # a new tensor; x itself is untouched
    assert torch.equal(tread.scatter(x, taken, index), x)


def test_no_route_is_the_dense_pass_and_keeping_every_token_changes_nothing():
    model = make()
    x, t = torch.randn(3, 3, 16, 16), torch.rand(3)
    dense = model(x, t)
    assert torch.equal(tread.forward(model, x, t), dense)
    assert torch.allclose(tread.forward(model, x, t, route=Route(1, 3, keep=1.0)), dense, atol=1e-6)
    assert not torch.allclose(tread.forward(model, x, t, route=Route(1, 3, keep=0.5)), dense, atol=1e-3)


def test_the_routed_pass_equals_the_blocks_written_out_by_hand():
    model = make(depth=4)
    x, t = torch.randn(3, 3, 16, 16), torch.rand(3)
    got = tread.forward(model, x, t, route=Route(1, 3, 0.25), generator=torch.Generator().manual_seed(7))
    index = tread.choose(3, 16, 4, torch.Generator().manual_seed(7))
    tokens, c = model.inputs(x, t)
    tokens = model.blocks[0](tokens, c)
    want = tokens.clone()
    for b in range(3):
        kept = tokens[b, index[b]][None]  # (1, 4, D)
        for block in model.blocks[1:3]:
            kept = block(kept, c[b : b + 1])
        want[b, index[b]] = kept[0]  # the other 12 tokens keep their value from after block 0
    want = model.blocks[3](want, c)
    assert torch.allclose(got, model.outputs(want, c), atol=1e-5)


def test_the_middle_blocks_see_only_the_kept_tokens_and_the_others_see_all():
    model = make(depth=4)
    seen = []
    for block in model.blocks:
        block.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    tread.forward(model, torch.randn(2, 3, 16, 16), torch.rand(2), route=Route(1, 3, 0.5))
    assert seen == tread.active_tokens(4, 16, Route(1, 3, 0.5)) == [16, 8, 8, 16]


def test_after_block_sees_each_blocks_output_with_the_index_inside_the_route_only():
    model = make(depth=4)
    seen = []
    index = torch.tensor([[0, 3, 5, 9, 10, 11, 12, 15]] * 2)
    tread.forward(model, torch.randn(2, 3, 16, 16), torch.rand(2), route=Route(1, 3, 0.5), index=index,
                  after_block=lambda i, tokens, idx: seen.append((i, tokens.shape[1], idx)))  # fmt: skip
    assert [(i, n) for i, n, _ in seen] == [(0, 16), (1, 8), (2, 16), (3, 16)]  # block 2 hands on all
    assert seen[1][2] is index and [idx for i, _, idx in seen if i != 1] == [None, None, None]


def test_routing_adds_no_weights_and_training_through_it_reaches_every_block():
    model = make(depth=4).train()
    before = sum(p.numel() for p in model.parameters())
    fn = tread.routed(model, Route(1, 3))
    loss, _ = flow.flow_loss(fn, torch.randn(4, 3, 16, 16).clamp(-1, 1), pred="x")
    loss.mean().backward()
    assert sum(p.numel() for p in model.parameters()) == before
    for i, block in enumerate(model.blocks):
        grads = [p.grad for p in block.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), f"block {i} got no gradient"


def test_the_training_loop_trains_a_dit_through_the_routed_loss():
    model = DiT(DiTConfig(image_size=16, patch=4, width=32, depth=4, heads=4))
    start = [p.detach().clone() for p in model.parameters()]
    route = Route(1, 3)

    def loss_fn(model, x):
        return flow.flow_loss(tread.routed(model, route), x, pred="x")

    history = train(model, loss_fn, lambda n, g: torch.rand(n, 3, 16, 16, generator=g) * 2 - 1,
                    TrainConfig(steps=3, batch_size=4, progress=False, ema_decay=None))  # fmt: skip
    assert len(history.losses) == 3
    assert any(not torch.equal(a, p) for a, p in zip(start, model.parameters()))


def test_maps_and_conditions_pass_through_the_routed_forward():
    model = make(depth=4, map_channels=3)
    x, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    maps = torch.zeros(2, 3, 16, 16)
    maps[:, 0] = 1
    out = tread.forward(model, x, t, maps=maps, route=Route(1, 3, 1.0))
    assert torch.allclose(out, model(x, t, maps=maps), atol=1e-6)
    with pytest.raises(ValueError, match="pass maps="):
        tread.forward(model, x, t, route=Route())


def test_self_guidance_is_routed_plus_scale_times_dense_minus_routed():
    model = make(depth=4)
    x, t = torch.randn(3, 3, 16, 16), torch.rand(3)
    route = Route(1, 3, 0.5)
    dense = model(x, t)
    weak = tread.forward(model, x, t, route=route, generator=torch.Generator().manual_seed(3))
    fn = tread.self_guided(model, None, 2.5, route, seed=3)
    assert torch.allclose(fn(x, t), weak + 2.5 * (dense - weak), atol=1e-5)
    assert torch.equal(tread.self_guided(model, None, 1.0, route)(x, t), dense)
    sample = flow.heun(tread.self_guided(model, None, 2.0, route), torch.randn(2, 3, 16, 16), 3, pred="x")
    assert sample.shape == (2, 3, 16, 16) and torch.isfinite(sample).all()


def test_clear_errors_for_a_model_that_is_not_a_dit_and_a_route_that_does_not_fit():
    with pytest.raises(TypeError, match="minidiff DiT"):
        tread.forward(torch.nn.Linear(3, 3), torch.randn(1, 3, 16, 16), torch.rand(1), route=Route())
    with pytest.raises(ValueError, match="depth 4"):
        tread.routed(make(depth=4), Route(1, 6))
