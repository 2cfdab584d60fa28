"""Each notebook's first cell, run as Colab would run it: the path most learners take first.

Colab is simulated in this process: a fake ``google.colab`` module, CUDA reported available (a "Tesla T4"),
``minidiff`` reported missing so the cell's install line runs, and ``subprocess.run`` (pip and apt-get)
recorded instead of run; Google Drive is a temporary folder, mounted or not. The checks: the budget the
cell picks, the font step, the Drive message, and that nothing else is installed or changed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from minidiff import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for d in ("chapters", "solutions", "workbooks") for p in (ROOT / d).glob("[0-9]*.ipynb"))
SETTINGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["minidiff"]
PACKAGE = f"git+https://github.com/{SETTINGS['github']}@{SETTINGS['ref']}"
each_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))


def first_cell(path: Path) -> str:
    cell = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    return cell.source


@pytest.fixture
def simulated_colab(monkeypatch, tmp_path):
    """A Colab runtime with a T4, the emoji font missing, minidiff not yet installed; returns the commands
    the cell runs (recorded, not run)."""
    commands = []

    def record(args, **kwargs):
        commands.append(list(args))
        return subprocess.CompletedProcess(args, 0, stdout="", stderr="")

    monkeypatch.setattr(subprocess, "run", record)  # the cell's pip and colab's apt-get alike
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "minidiff" else find_spec(name, *a)
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    monkeypatch.setattr(colab, "font_installed", lambda: False)
    monkeypatch.setattr(colab, "set_threads", torch.get_num_threads)  # threads: left as they are
    monkeypatch.setattr(colab, "DRIVE", tmp_path / "drive-not-mounted")
    for name in ("MINIDIFF_BUDGET", "MINIDIFF_HOME", "MINIDIFF_DEVICE"):
        monkeypatch.setenv(name, "")  # so that monkeypatch puts back whatever was there
        monkeypatch.delenv(name)
    return commands


def run_cell(source: str) -> dict[str, str]:
    """Run the cell; return the environment variables it added or changed."""
    before = dict(os.environ)
    exec(compile(source, "<first cell>", "exec"), {"__name__": "__main__"})
    return {k: v for k, v in os.environ.items() if before.get(k) != v}


@each_notebook
def test_first_cell_on_colab_installs_the_pinned_package_and_the_font_then_picks_gpu(
    path, simulated_colab, capsys
):
    changed = run_cell(first_cell(path))
    out = capsys.readouterr().out
    assert simulated_colab == [
        [sys.executable, "-m", "pip", "install", "-q", PACKAGE],  # the release, not a branch head
        ["apt-get", "install", "-y", "-qq", "fonts-noto-color-emoji"],
    ], "the first cell may install minidiff and the emoji font, and nothing else"
    assert changed == {"MINIDIFF_BUDGET": "gpu"}, "only the budget may change (no Drive is mounted)"
    assert "installed the emoji font" in out
    assert "drive.mount('/content/drive')" in out, "without Drive it says how to keep models between sessions"
    assert out.rstrip().splitlines()[-1].startswith("budget=gpu device=Tesla T4 ")


def test_first_cell_on_colab_with_drive_mounted_caches_there(simulated_colab, monkeypatch, tmp_path, capsys):
    drive = tmp_path / "MyDrive"
    drive.mkdir()
    monkeypatch.setattr(colab, "DRIVE", drive)
    monkeypatch.setattr(colab, "font_installed", lambda: True)  # a second run: the font is there
    changed = run_cell(first_cell(NOTEBOOKS[0]))
    out = capsys.readouterr().out
    assert simulated_colab == [[sys.executable, "-m", "pip", "install", "-q", PACKAGE]]
    assert changed == {"MINIDIFF_BUDGET": "gpu", "MINIDIFF_HOME": str(drive / "minidiff")}
    assert f"trained models are cached in Google Drive: {drive / 'minidiff'}" in out


def test_first_cell_elsewhere_installs_nothing_and_changes_no_setting(monkeypatch, capsys):
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: commands.append(args))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(colab, "set_threads", torch.get_num_threads)
    changed = run_cell(first_cell(NOTEBOOKS[0]))
    assert commands == [] and changed == {}
    assert capsys.readouterr().out.startswith("budget=")


@each_notebook
def test_the_install_line_is_the_pin_in_pyproject(path):
    source = first_cell(path)
    assert f'package = "{PACKAGE}"' in source, (
        f"{path.name}: run `make sync` ([tool.minidiff] says {PACKAGE})"
    )
