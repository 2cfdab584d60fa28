"""Judges: models and analytic readers that score generated images honestly.

``shapes`` reads shapes images back analytically; ``scenes`` (a segmenter) and ``emoji`` (a classifier) are
small models trained once by their ``RECIPE`` and cached by the zoo. ``python -m minidiff.judges`` trains
and caches the two trained judges ahead of time (``make test`` does, before the notebooks run).
"""
