"""Baselines: named reference runs, comparison with noise taken into account,
and publishing a baseline's numbers into a document.

- :mod:`record` — the store (``loadtest-baselines/<name>/``)
- :mod:`data` — a run's per-interval data, shaped for resampling
- :mod:`bootstrap` — resampling one-second intervals
- :mod:`compare`, :mod:`methodology`, :mod:`render` — the comparison
- :mod:`publish` — the table between markers in a document
"""
