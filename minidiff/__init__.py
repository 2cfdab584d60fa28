"""minidiff: the companion package of the minidiff course (build a small image generator from scratch)."""

from minidiff.budget import budget, describe, device, hardware, pick, run_summary, seed_everything, threads

__version__ = "0.1.0"

__all__ = ["__version__", "budget", "describe", "device", "hardware", "pick", "run_summary"]
__all__ += ["seed_everything", "threads"]
