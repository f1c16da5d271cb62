"""The run directory's formats and how to read them back: summary.json, the
failure breakdown, run validity, summary.txt, the interval log, the timeline,
meta, JUnit, the store of runs."""

__all__ = [
    "failures", "hlog", "junit", "meta", "observations", "rundir", "store", "summary", "text",
    "timeline", "validity",
]
