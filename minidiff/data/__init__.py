"""Datasets: all offline, procedural or rendered locally (one module each).

One rule for randomness: every sampler takes ``generator=``; without one it is seeded with 0, so the same
call gives the same data (pass ``torch.Generator().manual_seed(k)`` for another draw, and one generator
through a loop for fresh batches). ``folder`` reads files and has no randomness.
"""
