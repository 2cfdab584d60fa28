"""Helpers for tests of the pipeline and the command line: a MINIDIFF_HOME seeded with the emoji judge, a
copy of the trained one (conftest's session fixture ``trained_home``) to break, and making one current."""

from __future__ import annotations

import shutil
from pathlib import Path

from minidiff.settings import home


def seeded(path: Path) -> Path:
    """A fresh MINIDIFF_HOME at ``path`` with the emoji and scenes judges and the emoji renders of the usual
    cache copied in when they are there (a judge is a ruler, the same everywhere: ~50 s saved)."""
    (path / "zoo").mkdir(parents=True)
    (path / "data").mkdir()
    usual = home()
    for name in (
        "emoji-judge.json",
        "emoji-judge.safetensors",
        "scenes-judge.json",
        "scenes-judge.safetensors",
    ):
        if (usual / "zoo" / name).is_file():
            shutil.copy(usual / "zoo" / name, path / "zoo" / name)
    for render in (usual / "data").glob("emoji-*-32px.safetensors"):
        shutil.copy(render, path / "data" / render.name)
    return path


def copy_of(trained: Path, tmp_path: Path, monkeypatch) -> Path:
    """A copy of the trained home that a test may break, made the current MINIDIFF_HOME."""
    path = tmp_path / "home"
    shutil.copytree(trained, path)
    use(path, monkeypatch)
    return path


def use(path: Path, monkeypatch) -> Path:
    """Make ``path`` the MINIDIFF_HOME, with the quick budget and no smoke mode."""
    monkeypatch.setenv("MINIDIFF_HOME", str(path))
    monkeypatch.setenv("MINIDIFF_BUDGET", "quick")
    monkeypatch.delenv("MINIDIFF_SMOKE", raising=False)
    return path
