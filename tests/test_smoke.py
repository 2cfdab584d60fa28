"""Smoke mode (MINIDIFF_SMOKE=1): the gpu budget's code on a CPU, with every loop cut to a couple of turns.

What pick() returns must not change (presets, datasets, resolutions stay the gpu ones); count(), train(),
the samplers and the zoo's folder must; and tools/smoke.py must name the notebook and the cell that fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

import minidiff
from minidiff import flow, settings, zoo
from minidiff.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def smoke_gpu(monkeypatch):
    monkeypatch.setenv("MINIDIFF_BUDGET", "gpu")
    monkeypatch.setenv("MINIDIFF_SMOKE", "1")


def test_pick_keeps_the_gpu_value_and_count_is_capped(smoke_gpu):
    assert minidiff.smoke()
    assert minidiff.pick(quick="tiny", cpu="small", gpu="base") == "base"
    assert minidiff.pick(quick=16, cpu=32, gpu=64) == 64  # a resolution is a size: kept
    assert minidiff.count(quick=40, cpu=2_000, gpu=15_000) == settings.SMOKE_COUNT
    assert minidiff.count(quick=1, cpu=2, gpu=3) == 3  # already small: unchanged
    assert minidiff.count(quick=(1,), cpu=(2,), gpu=(16, 2, 1024)) == (4, 2, 4)


def test_without_smoke_count_is_pick(monkeypatch):
    monkeypatch.setenv("MINIDIFF_BUDGET", "gpu")
    monkeypatch.delenv("MINIDIFF_SMOKE", raising=False)
    assert not minidiff.smoke()
    assert minidiff.count(quick=40, cpu=2_000, gpu=15_000) == 15_000
    monkeypatch.setenv("MINIDIFF_SMOKE", "0")
    assert minidiff.count(quick=40, cpu=2_000, gpu=15_000) == 15_000


def test_a_mistyped_smoke_setting_is_refused(monkeypatch):
    monkeypatch.setenv("MINIDIFF_SMOKE", "on please")
    with pytest.raises(ValueError, match=r"MINIDIFF_SMOKE='on please': use 1"):
        minidiff.smoke()


def test_train_runs_two_small_steps_and_touches_no_checkpoint(smoke_gpu, tmp_path):
    seen = []

    def data(batch_size, generator):
        seen.append(batch_size)
        return torch.randn(batch_size, 2, generator=generator)

    model = nn.Linear(2, 2)
    ckpt = tmp_path / "run.safetensors"
    cfg = TrainConfig(steps=15_000, batch_size=512, ckpt_path=str(ckpt), ckpt_every=100, progress=False)
    history = train(model, lambda m, x: m(x).square().mean(dim=1), data, cfg, device="cpu")
    assert history.steps == [1, 2] and seen == [settings.SMOKE_COUNT] * 2
    assert not ckpt.exists() and list(tmp_path.iterdir()) == []


def test_samplers_take_two_steps(smoke_gpu):
    calls = []

    def model(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    x = flow.euler(model, torch.randn(3, 2), steps=50)
    assert x.shape == (3, 2) and calls == [0.0, 0.5]
    calls.clear()
    path = flow.euler(model, torch.randn(3, 2), steps=8, return_path=True)  # a path keeps its length:
    assert path.shape == (9, 3, 2) and len(calls) == 8  # callers index it by step
    calls.clear()
    flow.heun(model, torch.randn(3, 2), steps=50)
    assert len(calls) == 3  # NFE = 2 * steps - 1 with steps = 2


def test_the_zoo_keeps_smoke_models_apart(smoke_gpu, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDIFF_HOME", str(tmp_path))
    recipe = zoo.Recipe("tiny", build=lambda config: nn.Linear(2, 2), data_version=1,
                        train=lambda budget: (nn.Linear(2, 2), {}, 2, {}))  # fmt: skip
    weights, _ = zoo.paths(recipe)
    assert weights.parent == tmp_path / "zoo-smoke" and weights.name == "tiny-gpu.safetensors"
    monkeypatch.setenv("MINIDIFF_SMOKE", "0")
    assert zoo.paths(recipe)[0].parent == tmp_path / "zoo"


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_tools_smoke_names_the_notebook_and_the_cell_that_fails(tmp_path):
    good = _notebook(tmp_path / "good.ipynb", "import minidiff", "assert minidiff.pick(1, 2, 3) == 3")
    bad = _notebook(
        tmp_path / "bad.ipynb",
        "import minidiff",
        "resolution = minidiff.pick(quick=16, cpu=32, gpu='64')  # a typo only the gpu budget reads",
        "import torch\nx = torch.zeros(1, 3, resolution, resolution)",
    )
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "smoke.py"), str(good), str(bad)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"smoke: {good} ran in" in done.stdout
    failure = done.stderr.strip().splitlines()[-1]
    assert failure.startswith(f"smoke: FAILED {bad}: code cell 3 (starting 'import torch')"), failure
    assert "TypeError" in failure


def test_checks_compare_with_the_reference_at_full_steps_in_smoke_mode(smoke_gpu, capsys):
    from minidiff import checks

    def my_euler(model, x, steps):  # a learner's loop: smoke mode does not reach into it
        for i in range(steps):
            t = torch.full((x.shape[0],), i / steps)
            x = x + model(x, t) / steps
        return x

    checks.check_euler(my_euler)
    assert "calls the model 4 times" in capsys.readouterr().out
    assert minidiff.smoke()  # and smoke mode is back on after the check
