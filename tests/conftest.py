"""Shared pytest set-up for the unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ldm_home import seeded

from minidiff.settings import set_threads


def pytest_configure(config) -> None:
    # The unit tests run tiny models and many small ops: one torch thread is faster than two (measured: up
    # to 10x on a busy 2-core machine, where a second thread spin-waits) and leave the other core free.
    os.environ.setdefault("MINIDIFF_THREADS", "1")
    set_threads()


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory) -> Path:
    """A MINIDIFF_HOME whose zoo holds the quick vae, clip and ldm (trained once per session, in seconds)."""
    from minidiff.pipeline import Pipeline

    path = seeded(tmp_path_factory.mktemp("ldm") / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINIDIFF_HOME", str(path))
        mp.setenv("MINIDIFF_BUDGET", "quick")
        Pipeline.load(budget="quick", train=True)
    return path
