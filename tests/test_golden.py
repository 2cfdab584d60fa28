"""Golden outputs: tiny seeded layers, the UNet, flow_loss and the samplers against a stored fixture.

tests/fixtures/golden.safetensors holds each case's inputs, parameters and outputs, written by
``python tools/make_golden.py`` (never by a test). A changed activation, a reordered block, another
interpolation or another clamp changes these numbers and turns a test red. Tolerances survive 1 vs 2 torch
threads and torch 2.4 to 2.14: float64 for most cases (1e-9), float32 for the time embedding, the UNet and
the per-sample losses (1e-5).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("minidiff_tools_make_golden", ROOT / "tools" / "make_golden.py")
make_golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_golden)


@pytest.fixture(scope="module")
def stored() -> dict[str, torch.Tensor]:
    if not make_golden.FIXTURE.exists():
        pytest.fail(f"{make_golden.FIXTURE} is missing: run python tools/make_golden.py and commit it")
    with safe_open(str(make_golden.FIXTURE), framework="pt") as f:
        return {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118


def assert_golden(got: torch.Tensor, want: torch.Tensor, key: str) -> None:
    """Equal up to float64 or float32 rounding: relative to the tensor's largest entry, or to each entry of a
    per-sample vector (a loss per t spans orders of magnitude, and each entry is its own number)."""
    assert got.shape == want.shape and got.dtype == want.dtype, (key, got.shape, got.dtype, want.dtype)
    largest = want.abs().max().item()
    assert largest > 1e-3, f"{key}: the golden output is ~0 and would pin nothing"
    tol = 1e-9 if want.dtype == torch.float64 else 1e-5
    floor = 1e-3 * largest if want.ndim == 1 else largest
    err = (got.double() - want.double()).abs()
    bound = tol * (want.double().abs() + floor)
    worst = (err / bound).argmax()
    assert (err <= bound).all(), (
        f"{key}: {int((err > bound).sum())} of {want.numel()} entries differ from the golden output, worst "
        f"{got.flatten()[worst].item():.8g} vs {want.flatten()[worst].item():.8g} (index {worst.item()}); "
        "if the change is intended, run python tools/make_golden.py and say why in the commit"
    )


@pytest.mark.parametrize("case", sorted(make_golden.CASES))
def test_golden_outputs(stored, case):
    got = make_golden.compute(case, make_golden.Source(stored))
    want = {key: value for key, value in stored.items() if key.startswith(f"out.{case}.")}
    assert got.keys() == want.keys(), "the fixture is stale: run python tools/make_golden.py"
    for key in got:
        assert_golden(got[key], want[key], key)


def test_fixture_covers_every_case_and_the_clamp(stored):
    cases = {key.split(".")[1] for key in stored if key.startswith("out.")}
    assert cases == set(make_golden.CASES), "the fixture is stale: run python tools/make_golden.py"
    # the loss times reach past the clamp of 1 - t (LOSS_T_MAX = 0.95) and of t (eps-pred) on both sides
    t = torch.tensor(make_golden.LOSS_T)
    assert ((t > 0.9) & (t < 0.95)).any() and ((t > 0.95) & (t < 0.99)).any() and (t > 0.99).any()
    assert (t < 0.05).any()
    # nothing hides behind a zero output: the re-randomised zero-initialised layers are not zero
    assert stored["in.unet.out_conv.weight"].abs().min() > 0 and stored["out.unet.out"].abs().max() > 0.1
