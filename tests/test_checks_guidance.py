"""The chapter-05 checks pass on the reference and fail, with a useful hint, on broken copies."""

from __future__ import annotations

import pytest
import torch

from minidiff import checks, guidance
from minidiff.flow import model_output
from minidiff.unet import CrossAttnBlock


def drop_reference(cond, p, generator):
    return guidance.drop_condition(cond, p, generator)


def guided_reference(model, cond, scale, interval):
    return guidance.guided(model, cond, scale, interval)


def test_checks_pass_on_the_reference(capsys):
    checks.check_cross_attn_block(CrossAttnBlock)
    checks.check_drop_condition(drop_reference)
    checks.check_guided(guided_reference)
    assert capsys.readouterr().out.count("✓") >= 6


class NoResidual(CrossAttnBlock):
    def forward(self, x, context, mask=None):
        return super().forward(x, context, mask) - x


class IgnoresMask(CrossAttnBlock):
    def forward(self, x, context, mask=None):
        return super().forward(x, context)


def drop_per_entry(cond, p, generator):
    return torch.where(torch.rand(cond.shape, generator=generator) < p, 0.0, cond)


def drop_rescaled(cond, p, generator):
    return guidance.drop_condition(cond, p, generator) / (1 - p) if p < 1 else torch.zeros_like(cond)


def drop_inverted(cond, p, generator):
    keep = torch.rand(cond.shape[0], generator=generator) < p
    return torch.where(keep[:, None], cond, 0.0)


def guided_backwards(model, cond, scale, interval):
    def fn(xt, t):
        out_cond, out_uncond = (
            model_output(model, xt, t, cond),
            model_output(model, xt, t, torch.zeros_like(cond)),
        )
        return out_cond + scale * (out_uncond - out_cond)

    return fn


def guided_two_passes(model, cond, scale, interval):
    def fn(xt, t):
        out_cond, out_uncond = (
            model_output(model, xt, t, cond),
            model_output(model, xt, t, torch.zeros_like(cond)),
        )
        return out_uncond + scale * (out_cond - out_uncond)

    return fn


def guided_no_interval(model, cond, scale, interval):
    return guidance.guided(model, cond, scale)


@pytest.mark.parametrize(
    "check, broken, hint",
    [
        (checks.check_cross_attn_block, NoResidual, "residual"),
        (checks.check_cross_attn_block, IgnoresMask, "mask"),
        (checks.check_drop_condition, drop_per_entry, "one coin per sample"),
        (checks.check_drop_condition, drop_rescaled, "no rescaling"),
        (checks.check_drop_condition, drop_inverted, "p = 0"),
        (checks.check_guided, guided_backwards, "wrong way"),
        (checks.check_guided, guided_two_passes, "one batch of 2B"),
        (checks.check_guided, guided_no_interval, "interval"),
    ],
)
def test_checks_fail_on_mistakes(check, broken, hint):
    with pytest.raises(AssertionError, match=hint):
        check(broken)
