"""minidiff.colab.setup: a no-op outside Colab; on a (faked) Colab it installs the font and picks the budget.

Nothing is installed for real: subprocess.run is replaced by a recorder and google.colab by an empty module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
import torch

from minidiff import colab


@pytest.fixture
def calls(monkeypatch):
    """Record every subprocess.run instead of running it; each call 'succeeds'."""
    recorded = []

    def fake_run(args, **kwargs):
        recorded.append(list(args))
        return subprocess.CompletedProcess(args, 0, stdout="", stderr="")

    monkeypatch.setattr(colab.subprocess, "run", fake_run)
    monkeypatch.setattr(colab, "set_threads", lambda: recorded.append(["threads"]) or 1)
    monkeypatch.setenv("MINIDIFF_DEVICE", "cpu")  # describe() must not query a (faked) CUDA device
    for name in ("MINIDIFF_BUDGET", "MINIDIFF_HOME"):  # setup() sets them: setenv first so undo restores them
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return recorded


@pytest.fixture
def fake_colab(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(colab, "DRIVE", tmp_path / "not-mounted")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_outside_colab_only_sets_threads_and_prints(calls, monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    colab.setup()
    out = capsys.readouterr().out
    assert calls == [["threads"]], "outside Colab nothing may be installed"
    assert out.count("\n") == 1 and out.startswith("budget="), out
    assert "MINIDIFF_BUDGET" not in os.environ


def test_colab_installs_missing_font_and_picks_gpu_budget(calls, fake_colab, monkeypatch, capsys):
    monkeypatch.setattr(colab, "font_installed", lambda: False)
    colab.setup()
    out = capsys.readouterr().out
    assert calls[0] == ["apt-get", "install", "-y", "-qq", "fonts-noto-color-emoji"]
    assert calls[-1] == ["threads"]
    assert os.environ["MINIDIFF_BUDGET"] == "gpu"
    assert "budget=gpu" in out and "drive.mount" in out  # the Drive hint, nothing mounted


def test_colab_keeps_an_installed_font_and_a_chosen_budget(calls, fake_colab, monkeypatch, capsys):
    monkeypatch.setattr(colab, "font_installed", lambda: True)
    monkeypatch.setenv("MINIDIFF_BUDGET", "quick")
    colab.setup()
    assert calls == [["threads"]]
    assert os.environ["MINIDIFF_BUDGET"] == "quick"
    assert "budget=quick" in capsys.readouterr().out


def test_colab_without_gpu_stays_on_cpu_budget(calls, fake_colab, monkeypatch, capsys):
    monkeypatch.setattr(colab, "font_installed", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    colab.setup()
    assert "MINIDIFF_BUDGET" not in os.environ
    out = capsys.readouterr().out
    assert "T4 GPU" in out and "budget=cpu" in out


def test_colab_uses_a_mounted_drive_for_the_cache(calls, fake_colab, monkeypatch, tmp_path):
    monkeypatch.setattr(colab, "font_installed", lambda: True)
    monkeypatch.setattr(colab, "DRIVE", tmp_path)
    colab.setup()
    assert os.environ["MINIDIFF_HOME"] == str(tmp_path / "minidiff")


def test_failed_font_install_retries_after_update_then_says_how(monkeypatch, capsys):
    recorded = []

    def failing_run(args, **kwargs):
        recorded.append(args[:2])
        return subprocess.CompletedProcess(args, 100, stdout="", stderr="E: unable to locate package")

    monkeypatch.setattr(colab.subprocess, "run", failing_run)
    assert colab.install_font() is False
    assert recorded == [["apt-get", "install"], ["apt-get", "update"], ["apt-get", "install"]]
    assert "apt-get install -y fonts-noto-color-emoji" in capsys.readouterr().out


def test_font_installed_looks_in_the_font_folders(monkeypatch, tmp_path):
    monkeypatch.setattr(colab, "FONT_DIRS", (str(tmp_path),))
    assert not colab.font_installed()
    (tmp_path / "truetype" / "noto").mkdir(parents=True)
    (tmp_path / "truetype" / "noto" / "NotoColorEmoji.ttf").write_bytes(b"")
    assert colab.font_installed()
