"""The run's own files: ``meta.json`` when it starts; ``meta.json`` again,
``summary.json``, ``summary.txt`` (and ``--summary-export``) when it ends."""

from __future__ import annotations

from pathlib import Path

from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.results import rundir


class RunFiles:
    def __init__(self, summary_export: Path | None = None) -> None:
        self.summary_export = summary_export
        self._dir: Path | None = None

    def description(self) -> str:
        return "meta.json, summary.json, summary.txt"

    def start(self, run: RunStart) -> None:
        self._dir = run.run_dir
        rundir.write_json(run.run_dir / rundir.META, dict(run.meta))

    def add_interval(self, interval: Interval) -> None:
        pass

    def stop(self, end: RunEnd | None) -> None:
        if end is None or self._dir is None:
            return
        summary = dict(end.summary)
        rundir.write_json(self._dir / rundir.META, summary.get("meta") or {})
        rundir.write_json(self._dir / rundir.SUMMARY, summary)
        if self.summary_export:
            self.summary_export.parent.mkdir(parents=True, exist_ok=True)
            rundir.write_json(self.summary_export, summary)
        (self._dir / rundir.SUMMARY_TXT).write_text(end.text, encoding="utf-8")
