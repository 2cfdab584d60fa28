"""minidiff.unet: shapes, zero-initialised output, gradient flow, presets, the cond hook, helpful errors."""

from __future__ import annotations

import pytest
import torch

from minidiff import flow
from minidiff.checks.core import perturbed
from minidiff.unet import PRESETS, UNet, UNetConfig, count_parameters, group_norm

SMALL = dict(base_channels=8, channel_mults=(1, 2), blocks_per_level=1, attn_levels=(1,), heads=2, groups=4)


@pytest.mark.parametrize(
    "overrides, shape",
    [
        ({}, (2, 3, 16, 16)),
        ({}, (1, 3, 64, 64)),
        ({}, (2, 3, 32, 16)),  # not square
        (dict(channel_mults=(1, 2, 2), attn_levels=(2,)), (2, 3, 32, 32)),
        (dict(blocks_per_level=2, attn_levels=(0, 1)), (2, 3, 8, 8)),
        (dict(in_channels=4, out_channels=8), (2, 4, 8, 8)),  # latents in, another width out
    ],
)
def test_output_shapes(overrides, shape):
    cfg = UNetConfig(**{**SMALL, **overrides})
    model = perturbed(UNet(cfg), std=0.1)
    out = model(torch.randn(shape), torch.rand(shape[0]))
    assert out.shape == (shape[0], cfg.out_channels or cfg.in_channels, *shape[2:])
    assert torch.isfinite(out).all()


def test_default_config_builds_and_runs():
    model = UNet(UNetConfig())
    assert model(torch.randn(1, 3, 16, 16), torch.rand(1)).shape == (1, 3, 16, 16)


def test_output_is_exactly_zero_at_init():
    model = UNet(UNetConfig(**SMALL))
    assert torch.equal(model(torch.randn(2, 3, 16, 16), torch.rand(2)), torch.zeros(2, 3, 16, 16))


def test_gradient_reaches_every_parameter():
    model = perturbed(UNet(UNetConfig(**SMALL, cond_dim=5)), std=0.1)
    out = model(torch.randn(2, 3, 16, 16), torch.rand(2), torch.randn(2, 5))
    out.square().mean().backward()
    no_grad = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not no_grad, f"no gradient reaches {no_grad}"


def test_presets_parameter_counts():
    ranges = {"tiny": (0.3e6, 0.6e6), "small": (2e6, 4e6), "base": (8e6, 20e6)}
    assert set(PRESETS) == set(ranges)
    for name, (low, high) in ranges.items():
        n = count_parameters(UNet(UNetConfig(**PRESETS[name])))
        assert low <= n <= high, f"{name}: {n:,} parameters, expected {low:,.0f}..{high:,.0f}"
    model = UNet(UNetConfig(**PRESETS["tiny"]))
    frozen = UNet(UNetConfig(**PRESETS["tiny"])).requires_grad_(False)  # as an EMA copy is
    assert count_parameters(frozen) == count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_cond_hook_changes_the_output():
    torch.manual_seed(0)
    model = perturbed(UNet(UNetConfig(**SMALL, cond_dim=4)), std=0.1)
    xt, t = torch.randn(2, 3, 16, 16), torch.rand(2)
    out_a = model(xt, t, torch.zeros(2, 4))
    out_b = model(xt, t, torch.ones(2, 4))
    assert not torch.allclose(out_a, out_b)
    torch.testing.assert_close(model(xt, t, torch.zeros(2, 4)), out_a)  # deterministic in eval and train


def test_time_changes_the_output():
    model = perturbed(UNet(UNetConfig(**SMALL)), std=0.1)
    xt = torch.randn(1, 3, 16, 16).expand(2, -1, -1, -1)
    out = model(xt, torch.tensor([0.1, 0.9]))
    assert not torch.allclose(out[0], out[1])


def test_group_norm_picks_a_divisor():
    assert group_norm(64, 32).num_groups == 32
    assert group_norm(48, 32).num_groups == 24
    assert group_norm(8, 32).num_groups == 8
    assert group_norm(12, 8).num_groups == 6


@pytest.mark.parametrize(
    "args, match",
    [
        ((torch.randn(2, 1, 16, 16), torch.rand(2)), "in_channels"),
        ((torch.randn(3, 16, 16), torch.rand(3)), "batch dimension"),
        ((torch.randn(2, 3, 15, 16), torch.rand(2)), "divisible by 2"),
        ((torch.randn(2, 3, 16, 16), torch.rand(3)), r"t must have shape"),
        ((torch.randn(2, 3, 16, 16), torch.rand(2, 1)), r"t must have shape"),
        ((torch.randn(2, 3, 16, 16), torch.rand(2), torch.randn(2, 4)), "unconditional"),
    ],
)
def test_bad_inputs_raise_helpful_errors(args, match):
    model = UNet(UNetConfig(**SMALL))
    with pytest.raises(ValueError, match=match):
        model(*args)


def test_bad_cond_and_config_raise():
    model = UNet(UNetConfig(**SMALL, cond_dim=4))
    with pytest.raises(ValueError, match="cond must be"):
        model(torch.randn(2, 3, 16, 16), torch.rand(2))
    with pytest.raises(ValueError, match="cond must be"):
        model(torch.randn(2, 3, 16, 16), torch.rand(2), torch.randn(2, 5))
    with pytest.raises(ValueError, match="attn_levels"):
        UNet(UNetConfig(**{**SMALL, "attn_levels": (2,)}))


def test_middle_runs_res_attn_res_in_that_order():
    # DDPM's middle (Ho et al. 2020, App. B): ResBlock -> self-attention -> ResBlock, each feeding the next
    model = perturbed(UNet(UNetConfig(**SMALL)), std=0.1)
    seen = []

    def record(name):
        return lambda module, inputs, output: seen.append((name, inputs[0], output))

    for name in ("res1", "attn", "res2"):
        getattr(model.mid, name).register_forward_hook(record(name))
    model(torch.randn(2, 3, 16, 16), torch.rand(2))
    assert [name for name, _, _ in seen] == ["res1", "attn", "res2"]
    for (_, _, output), (_, next_input, _) in zip(seen, seen[1:]):
        assert next_input is output


def test_upsample_is_nearest_neighbour_then_conv():
    from minidiff.unet import Upsample

    up = perturbed(Upsample(3), std=0.1)
    x = torch.randn(2, 3, 4, 5)
    doubled = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # each pixel becomes a 2x2 block
    torch.testing.assert_close(up(x), up.conv(doubled))
    assert up(x).shape == (2, 3, 8, 10)


# ---- text conditioning (chapter 05): cross-attention to tokens, with a padding mask -----------------

TEXT = dict(SMALL, cond_dim=6, context_dim=6)


def text_inputs(batch=2, length=4):
    generator = torch.Generator().manual_seed(1)
    return (
        torch.randn(batch, 3, 16, 16, generator=generator),
        torch.rand(batch, generator=generator),
        torch.randn(batch, 6, generator=generator),
        torch.randn(batch, length, 6, generator=generator),
    )


def test_a_fresh_text_unet_adds_cross_attention_and_keeps_every_other_name():
    plain, text = UNet(UNetConfig(**SMALL, cond_dim=6)), UNet(UNetConfig(**TEXT))
    extra = set(text.state_dict()) - set(plain.state_dict())
    assert set(plain.state_dict()) <= set(text.state_dict())
    assert extra and all(".cross." in name or name.startswith("mid.cross.") for name in extra)
    xt, t, cond, context = text_inputs()
    assert torch.equal(text(xt, t, cond, context), torch.zeros_like(xt))  # zero-initialised, like chapter 02


def test_the_text_tokens_change_the_output_and_padding_does_not():
    model = perturbed(UNet(UNetConfig(**TEXT)), std=0.1)
    xt, t, cond, context = text_inputs()
    out = model(xt, t, cond, context)
    assert not torch.allclose(out, model(xt, t, cond, context.flip(0)))  # other tokens, other output
    mask = torch.tensor([[True, True, False, False]] * 2)
    padded = context.clone()
    padded[:, 2:] = 100.0  # garbage where the mask says padding
    torch.testing.assert_close(
        model(xt, t, cond, padded, mask), model(xt, t, cond, context[:, :2], mask[:, :2])
    )


def test_gradient_reaches_the_cross_attention():
    model = perturbed(UNet(UNetConfig(**TEXT)), std=0.1)
    model(*text_inputs()).square().mean().backward()
    cross = {name: p for name, p in model.named_parameters() if "cross" in name}
    assert cross and all(p.grad is not None and p.grad.abs().sum() > 0 for p in cross.values())


def test_flow_loss_passes_a_dict_condition_as_keywords():
    model = perturbed(UNet(UNetConfig(**TEXT)), std=0.1)
    xt, t, cond, context = text_inputs()
    loss, _ = flow.flow_loss(
        model, xt, cond={"cond": cond, "context": context}, t=t, noise=torch.zeros_like(xt)
    )
    want = ((model(xt * t[:, None, None, None], t, cond, context) - xt) ** 2).flatten(1).mean(1)
    torch.testing.assert_close(loss, want)


@pytest.mark.parametrize(
    "config, kwargs, match",
    [
        (dict(SMALL), {"context": torch.randn(2, 4, 6)}, "no cross-attention"),
        (TEXT, {"cond": torch.randn(2, 6)}, r"context must be \(B, L, 6\)"),
        (TEXT, {"cond": torch.randn(2, 6), "context": torch.randn(2, 4, 5)}, r"context must be"),
        (
            TEXT,
            {
                "cond": torch.randn(2, 6),
                "context": torch.randn(2, 4, 6),
                "context_mask": torch.ones(2, 3, dtype=torch.bool),
            },
            "context_mask must be",
        ),  # fmt: skip
    ],
)
def test_bad_text_inputs_raise_helpful_errors(config, kwargs, match):
    model = UNet(UNetConfig(**config))
    with pytest.raises(ValueError, match=match):
        model(torch.randn(2, 3, 16, 16), torch.rand(2), **kwargs)
