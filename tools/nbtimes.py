"""pytest plugin for ``make test`` (``-p tools.nbtimes``): the wall time of each notebook under --nbval.

nbval reports one test per cell; this adds them up per notebook (kernel start included, it happens in the
first cell's set-up) and flags notebooks over the ``quick`` budget's 60 s (COURSE.md §4).
"""

from __future__ import annotations

from collections import defaultdict

QUICK_LIMIT_S = 60.0


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    seconds = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid, duration = getattr(report, "nodeid", ""), getattr(report, "duration", None)
            if getattr(report, "when", None) and duration is not None and ".ipynb" in nodeid:
                seconds[nodeid.split("::")[0]] += duration
    if not seconds:
        return
    terminalreporter.write_sep("=", "wall time per notebook")
    for path, total in sorted(seconds.items(), key=lambda item: -item[1]):
        flag = f"  (over the {QUICK_LIMIT_S:.0f} s of the quick budget)" if total > QUICK_LIMIT_S else ""
        terminalreporter.write_line(f"{total:7.1f} s  {path}{flag}")
