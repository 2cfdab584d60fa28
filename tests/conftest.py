"""Shared pytest set-up for the unit tests."""

from __future__ import annotations

import minidiff


def pytest_configure(config) -> None:
    # Under `pytest -n 2` each worker gets 1 torch thread (PYTEST_XDIST_WORKER is set), so two workers
    # do not fight over 2 cores; run serially, torch keeps its default of one thread per core.
    minidiff.threads()
