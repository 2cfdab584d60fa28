"""Judges: models and analytic readers that score generated images honestly (see minidiff.metrics)."""
