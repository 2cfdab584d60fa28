"""Shared pytest set-up for the unit tests."""

from __future__ import annotations

import os

from minidiff.settings import set_threads


def pytest_configure(config) -> None:
    # The unit tests run tiny models and many small ops: one torch thread is faster than two (measured: up
    # to 10x on a busy 2-core machine, where a second thread spin-waits) and leave the other core free.
    os.environ.setdefault("MINIDIFF_THREADS", "1")
    set_threads()
