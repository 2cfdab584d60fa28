"""settings.py: the budget from the environment or the hardware, pick, device, seeds, threads, home."""

from __future__ import annotations

import random
import re
import sys
import time

import numpy as np
import pytest
import torch

import minidiff
from minidiff import settings as budget_module


def test_env_overrides_and_auto_detection(monkeypatch):
    for name in ("quick", "cpu", "gpu", " CPU "):
        monkeypatch.setenv("MINIDIFF_BUDGET", name)
        assert minidiff.budget() == name.strip().lower()
    monkeypatch.delenv("MINIDIFF_BUDGET")
    monkeypatch.setattr(budget_module, "_accelerator", lambda: None)
    assert minidiff.budget() == "cpu"
    monkeypatch.setattr(budget_module, "_accelerator", lambda: "cuda")
    assert minidiff.budget() == "gpu"
    monkeypatch.setenv("MINIDIFF_BUDGET", "huge")
    with pytest.raises(ValueError, match="'huge' is not a budget: use one of quick, cpu, gpu"):
        minidiff.budget()


def test_pick_follows_the_budget(monkeypatch):
    for name, want in (("quick", 40), ("cpu", 2_000), ("gpu", 15_000)):
        monkeypatch.setenv("MINIDIFF_BUDGET", name)
        assert minidiff.pick(quick=40, cpu=2_000, gpu=15_000) == want
    assert minidiff.pick(1, 2, 3, budget_name="gpu") == 3
    with pytest.raises(ValueError, match="unknown budget"):
        minidiff.pick(1, 2, 3, budget_name="tpu")


def test_device_choice(monkeypatch):
    monkeypatch.delenv("MINIDIFF_DEVICE", raising=False)
    monkeypatch.setattr(budget_module, "_accelerator", lambda: None)
    assert minidiff.device() == torch.device("cpu")
    monkeypatch.setattr(budget_module, "_accelerator", lambda: "mps")
    assert minidiff.device() == torch.device("mps")
    monkeypatch.setenv("MINIDIFF_DEVICE", "cpu")
    assert minidiff.device() == torch.device("cpu")


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    minidiff.seed_everything(7)
    first = draw()
    minidiff.seed_everything(7)
    second = draw()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    minidiff.seed_everything(8)
    assert draw()[0] != first[0]


def test_thread_policy(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("MINIDIFF_THREADS", raising=False)
        monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")  # a notebook kernel started by an xdist worker
        assert budget_module.set_threads() == 1 == budget_module.threads()
        monkeypatch.setenv("MINIDIFF_THREADS", "2")  # an explicit setting wins
        assert budget_module.set_threads() == 2 == budget_module.threads()
    finally:
        torch.set_num_threads(before)


def test_run_summary_is_what_tools_stamp_reads(monkeypatch):
    monkeypatch.setenv("MINIDIFF_BUDGET", "cpu")
    line = minidiff.run_summary()
    assert re.fullmatch(r"budget `cpu`, .+, \d+\.\d min", line), line
    assert minidiff.hardware() in line


def test_the_module_is_not_shadowed_by_a_function():
    import minidiff.settings

    assert callable(minidiff.budget) and minidiff.settings.budget is minidiff.budget
    assert type(sys.modules["minidiff.settings"]).__name__ == "module"


def test_run_summary_counts_from_the_run_start_the_stamp_gives(monkeypatch):
    monkeypatch.setenv("MINIDIFF_RUN_STARTED", repr(time.time() - 180))  # make notebooks started 3 min ago
    assert minidiff.run_summary().endswith(", 3.0 min")
    monkeypatch.setenv("MINIDIFF_RUN_STARTED", "not a time")  # falls back to the import time
    assert minidiff.run_summary().endswith(" min")
