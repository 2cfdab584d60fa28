"""Datasets: all offline, procedural or rendered locally, deterministic by seed (one module each)."""
