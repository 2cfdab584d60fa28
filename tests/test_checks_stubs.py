"""minidiff.checks handed a workbook's stub: one short line naming what to write, no traceback into the
package; any other error (even torch's own NotImplementedError) is left as it was."""

from __future__ import annotations

import traceback

import pytest
import torch

from minidiff import checks, flow


def _cell(source: str) -> dict:
    """Run ``source`` as a notebook cell would (its own file name, a __main__ namespace)."""
    namespace = {"__name__": "__main__", "torch": torch, "nn": torch.nn}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


STUB = '''
def my_interpolate(x, noise, t):
    """xt = t x + (1 - t) noise, with t (B,) reshaped to broadcast over x."""
    raise NotImplementedError("xt = t x + (1 - t) noise, with t (B,) reshaped to broadcast over x.")
'''


def test_a_stub_fails_with_one_line_that_names_it():
    stub = _cell(STUB)["my_interpolate"]
    with pytest.raises(AssertionError) as caught:
        checks.check_interpolate(stub)  # check_interpolate calls check_time_convention: both decorated
    hint = "xt = t x + (1 - t) noise, with t (B,) reshaped to broadcast over x."
    assert str(caught.value) == f"my_interpolate is not written yet: {hint}"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    inside = [f for f in traceback.extract_tb(caught.value.__traceback__) if "minidiff" in f.filename]
    assert len(inside) == 1 and inside[0].name == "run", "one frame in the package: the line that raises"


def test_a_decorated_stub_is_recognised():
    source = '''
@torch.no_grad()
def my_euler(model, noise, steps):
    """Euler from t = 0 to 1 in equal steps."""
    raise NotImplementedError("Euler from t = 0 to 1 in equal steps.")
'''
    with pytest.raises(
        AssertionError, match="^my_euler is not written yet: Euler from t = 0 to 1 in equal steps.$"
    ):
        checks.check_euler(_cell(source)["my_euler"])


def test_a_stub_method_is_named_with_its_class():
    source = '''
class MyAttnBlock(nn.Module):
    """Self-attention over the H*W positions of a feature map, plus the input."""

    def __init__(self, ch, heads):
        """GroupNorm then minidiff.layers.Attention(ch, heads) named `attn`."""
        super().__init__()
        from minidiff.layers import Attention
        self.norm, self.attn = nn.GroupNorm(8, ch), Attention(ch, heads)

    def forward(self, x):
        """Tokens (B, H*W, C), attention, back to (B, C, H, W), plus x."""
        raise NotImplementedError("Tokens (B, H*W, C), attention, back to (B, C, H, W), plus x.")
'''
    with pytest.raises(
        AssertionError, match=r"^MyAttnBlock\.forward is not written yet: Tokens \(B, H\*W, C\)"
    ):
        checks.check_attn_block(_cell(source)["MyAttnBlock"])


def test_other_errors_are_left_alone():
    with pytest.raises(AssertionError, match="values differ from the reference"):
        checks.check_velocity(lambda x, noise: x + noise)
    no_forward = """
class MyAttnBlock(nn.Module):
    def __init__(self, ch, heads):
        super().__init__()
        from minidiff.layers import Attention
        self.norm, self.attn = nn.GroupNorm(8, ch), Attention(ch, heads)
"""
    with pytest.raises(NotImplementedError, match="forward"):  # torch's own: a module without forward()
        checks.check_attn_block(_cell(no_forward)["MyAttnBlock"])


def test_the_reference_passes_and_heun_lists_every_call(capsys):
    checks.check_interpolate(flow.interpolate)
    checks.check_heun(flow.heun)
    checks.check_euler(flow.euler)
    out = capsys.readouterr().out
    assert "calls the model 7 times, at t = 0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75" in out
    assert "calls the model 4 times, at t = 0, 0.25, 0.5, 0.75" in out
