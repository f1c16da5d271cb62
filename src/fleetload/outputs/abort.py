"""Thresholds with ``abort_on_fail``: evaluated on every merged interval, a
failing one ends the run gracefully (after ``delay_abort_eval``)."""

from __future__ import annotations

from collections.abc import Sequence

from fleetload.metrics.thresholds import ThresholdSet, evaluate
from fleetload.outputs.base import Interval, RunControl, RunEnd, RunStart


class AbortOnFail:
    def __init__(self, thresholds: Sequence[ThresholdSet]) -> None:
        self.thresholds = list(thresholds)
        self._control: RunControl | None = None
        self._fired = False

    @staticmethod
    def wanted(thresholds: Sequence[ThresholdSet]) -> bool:
        return any(t.abort_on_fail for ts in thresholds for t in ts.thresholds)

    def description(self) -> str:
        return "abort-on-fail thresholds"

    def set_run_control(self, control: RunControl) -> None:
        self._control = control

    def start(self, run: RunStart) -> None:
        pass

    def add_interval(self, interval: Interval) -> None:
        if self._fired:
            return
        ev = evaluate(self.thresholds, interval.aggregate, elapsed=interval.snapshot.end,
                      only_abortable=True)
        failed = [v for v in ev.verdicts if not v.ok and v.reason != "no samples"]
        if failed and self._control is not None:
            self._fired = True
            self._control.request_stop(f"threshold {failed[0].selector} {failed[0].source} "
                                       "failed (abort_on_fail)")

    def stop(self, end: RunEnd | None) -> None:
        pass
