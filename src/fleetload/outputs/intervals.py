"""The interval files: ``intervals.hlog`` (HdrHistogram interval log) and
``timeline.jsonl`` (per-second, per-scenario numbers), written as the run goes."""

from __future__ import annotations

from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.results import rundir
from fleetload.results.hlog import HlogWriter
from fleetload.results.timeline import TimelineWriter


class HlogOutput:
    def __init__(self) -> None:
        self._writer: HlogWriter | None = None

    def description(self) -> str:
        return rundir.HLOG

    def start(self, run: RunStart) -> None:
        self._writer = HlogWriter(run.run_dir / rundir.HLOG, run.start_wall)

    def add_interval(self, interval: Interval) -> None:
        snap = interval.snapshot
        assert self._writer is not None
        self._writer.write_interval(snap.start, snap.end, snap.trends)

    def stop(self, end: RunEnd | None) -> None:
        if self._writer is not None:
            self._writer.close()


class TimelineOutput:
    def __init__(self) -> None:
        self._writer: TimelineWriter | None = None

    def description(self) -> str:
        return rundir.TIMELINE

    def start(self, run: RunStart) -> None:
        self._writer = TimelineWriter(run.run_dir / rundir.TIMELINE)

    def add_interval(self, interval: Interval) -> None:
        assert self._writer is not None
        self._writer.write(dict(interval.row))

    def stop(self, end: RunEnd | None) -> None:
        if self._writer is not None:
            self._writer.close()
