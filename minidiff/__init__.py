"""minidiff: the companion package of the minidiff course (build a small image generator from scratch)."""

from minidiff.budget import budget, describe, device, pick, seed_everything, threads

__version__ = "0.1.0"

__all__ = ["__version__", "budget", "describe", "device", "pick", "seed_everything", "threads"]
