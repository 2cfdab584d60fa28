"""Checks that compare a learner's scratch code with the package reference.

Each ``check_<thing>(candidate)`` runs the candidate and the reference on a fixed seed and tiny shapes,
prints one line per passed check and raises ``AssertionError`` with a hint on the first failure.
"""

from __future__ import annotations

import torch


def _passed(message: str) -> None:
    print(f"✓ {message}")


def _assert_close(got: torch.Tensor, want: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail with a message that says which check differs, by how much, and the shapes involved."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    if not torch.allclose(got.float(), want.float(), atol=atol, rtol=rtol):
        worst = (got.float() - want.float()).abs().max().item()
        raise AssertionError(f"{what}: values differ from the reference (max abs difference {worst:.3g})")
