"""minidiff.guidance: null conditions, condition dropout, classifier-free guidance and its interval."""

from __future__ import annotations

import pytest
import torch

from minidiff import flow, guidance
from minidiff.unet import UNet, UNetConfig


class Shift(torch.nn.Module):
    """out = xt + cond (broadcast over H, W): its guided output has a closed form."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def forward(self, xt, t, cond):
        self.batches.append(xt.shape[0])
        return xt + cond[:, :, None, None]


def text_condition(batch=3, length=5, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mask = (
        torch.arange(length)[None, :] < torch.tensor([5, 2, 3])[:batch, None]
    )  # (B, L): 5, 2, 3 real tokens
    return {
        "cond": torch.randn(batch, dim, generator=generator),
        "context": torch.randn(batch, length, dim, generator=generator),
        "context_mask": mask,
    }


def test_null_is_zeros_and_keeps_one_token_to_attend_to():
    cond = text_condition()
    null = guidance.null_like(cond)
    assert torch.equal(null["cond"], torch.zeros(3, 8)) and torch.equal(null["context"], torch.zeros(3, 5, 8))
    assert null["context_mask"].tolist() == [[True, False, False, False, False]] * 3
    assert torch.equal(guidance.null_like(torch.ones(2, 4)), torch.zeros(2, 4))


def test_drop_condition_drops_whole_samples_at_rate_p():
    batch = 4000
    cond = {"cond": torch.randn(batch, 4) + 5, "context": torch.randn(batch, 3, 4) + 5,
            "context_mask": torch.ones(batch, 3, dtype=torch.bool)}  # fmt: skip
    dropped = guidance.drop_condition(cond, 0.25, generator=torch.Generator().manual_seed(0))
    gone = dropped["cond"].abs().sum(1) == 0  # (B,)
    assert abs(gone.float().mean().item() - 0.25) < 0.03  # binomial sd at n=4000 is 0.007
    assert torch.equal(dropped["context"].abs().sum((1, 2)) == 0, gone)  # every key of a sample together
    assert torch.equal(dropped["context_mask"].sum(1) == 1, gone)
    kept = ~gone
    assert torch.equal(dropped["cond"][kept], cond["cond"][kept])
    assert torch.equal(guidance.drop_condition(cond, 0.0)["cond"], cond["cond"])
    assert torch.equal(guidance.drop_condition(cond, 1.0)["cond"], torch.zeros(batch, 4))


@pytest.mark.parametrize("scale", [1.0, 0.0, 3.5])
def test_guided_output_is_the_extrapolation(scale):
    model, cond = Shift(), torch.randn(2, 3)
    xt, t = torch.randn(2, 3, 4, 4), torch.tensor([0.3, 0.6])
    got = guidance.guided(model, cond, scale)(xt, t)
    # conditional xt + c, unconditional xt: guided = xt + scale * c
    torch.testing.assert_close(got, xt + scale * cond[:, :, None, None])


def test_interval_guides_only_inside_and_saves_the_second_pass_outside():
    model, cond = Shift(), torch.ones(2, 3)
    fn = guidance.guided(model, cond, 4.0, interval=(0.2, 0.8))
    xt = torch.zeros(2, 3, 1, 1)
    mixed = fn(xt, torch.tensor([0.1, 0.5]))  # first sample outside (scale 1), second inside (scale 4)
    assert mixed[:, 0, 0, 0].tolist() == [1.0, 4.0]
    assert model.batches == [4]  # one pass over cond and null together
    fn(xt, torch.tensor([0.9, 0.95]))
    assert model.batches == [4, 2]  # outside the interval: the conditional half only
    guidance.guided(model, cond, 1.0)(xt, torch.tensor([0.5, 0.5]))
    assert model.batches == [4, 2, 2]  # scale 1 never pays for the unconditional pass


def test_guided_text_unet_samples_and_scale_one_is_the_conditional_model():
    torch.manual_seed(0)
    cfg = UNetConfig(
        base_channels=8, channel_mults=(1, 2), attn_levels=(1,), heads=2, cond_dim=8, context_dim=8
    )
    model = UNet(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))  # zero-initialised outputs would hide everything
    cond, noise = text_condition(), torch.randn(3, 3, 8, 8)
    plain = flow.euler(model, noise, 3, cond=cond)
    torch.testing.assert_close(flow.euler(guidance.guided(model, cond, 1.0), noise, 3), plain)
    assert not torch.allclose(flow.euler(guidance.guided(model, cond, 3.0), noise, 3), plain)


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="one condition per noise sample"):
        guidance.guided(Shift(), torch.ones(3, 3), 2.0)(torch.zeros(2, 3, 1, 1), torch.rand(2))
    with pytest.raises(ValueError, match="low <= high"):
        guidance.guided(Shift(), torch.ones(2, 3), 2.0, interval=(0.8, 0.2))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        guidance.drop_condition(torch.ones(2, 3), 10)
    with pytest.raises(TypeError, match="dict of tensors"):
        guidance.null_like([torch.ones(2)])
    with pytest.raises(ValueError, match="disagree on the batch size"):
        guidance.null_like({"cond": torch.ones(2, 3), "context": torch.ones(3, 1, 3)})
