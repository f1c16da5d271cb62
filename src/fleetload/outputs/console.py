"""The live console table (rich) shown while a run goes, when standard error
is a terminal; elsewhere (a pipe, a CI log) the plain live line
(:mod:`fleetload.outputs.live`).

One row per scenario: achieved rate, service-time p95 and corrected
(intended-start) p99 of the last second, failures so far with the top reason,
dropped iterations, iterations in flight; under it the run's achieved and
scheduled rate, a progress bar, and the executors' own status lines.
:class:`TableState` holds the numbers, folded from ``timeline.jsonl`` rows;
:mod:`fleetload.outputs.console_table` draws them with rich.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from fleetload.outputs.base import Output
from fleetload.outputs.live import LiveLine, StatusFormatter


@dataclass
class ScenarioState:
    rate: float = 0.0  # requests/s in the last interval (iterations/s without requests)
    unit: str = "req/s"
    reqs: float = 0.0
    failed: float = 0.0
    reasons: dict[str, float] = field(default_factory=dict)
    dropped: float = 0.0
    in_flight: float = 0.0
    p95: float | None = None
    p99_corrected: float | None = None


@dataclass
class TableState:
    planned: float = 0.0
    t: float = 0.0
    achieved: float = 0.0  # iterations/s, all scenarios, last interval
    scheduled: float | None = None
    behind: float = 0.0
    scenarios: dict[str, ScenarioState] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)

    def add_row(self, row: Mapping[str, Any], scheduled: float | None = None,
                status_text: Mapping[str, str] | None = None) -> None:
        """Fold in one ``timeline.jsonl`` row."""
        dt = float(row.get("dt") or 1.0) or 1.0
        self.t = float(row["t"])
        self.scheduled = scheduled
        self.achieved = sum(sc["iterations"] for sc in row["scenarios"].values()) / dt
        self.behind = max(row.get("behind", {}).values(), default=0.0)
        for name, sc in row["scenarios"].items():
            st = self.scenarios.setdefault(name, ScenarioState())
            reqs = float(sc["reqs"])
            st.unit = "req/s" if reqs or st.reqs else "it/s"
            st.rate = (reqs if st.unit == "req/s" else float(sc["iterations"])) / dt
            st.reqs += reqs
            st.failed += float(sc["failed"])
            for reason, n in (sc.get("fail_reasons") or {}).items():
                st.reasons[reason] = st.reasons.get(reason, 0.0) + n
            st.dropped += float(sc["dropped"])
            st.in_flight = float(sc["vus"])
            duration, latency = sc.get("duration"), sc.get("latency")
            st.p95 = duration["p95"] if duration else None
            st.p99_corrected = latency["p99"] if latency else None
        self.status.update(status_text or {})


def live_output(*, every: float, out: TextIO | None, quiet: bool,
                formatters: Mapping[str, StatusFormatter]) -> Output:
    """The console table when ``out`` (standard error by default) is a
    terminal, else the plain live line."""
    stream = out or sys.stderr
    if not quiet and stream.isatty():
        try:
            from fleetload.outputs.console_table import ConsoleTable
        except ModuleNotFoundError:  # an install without rich: the plain line
            pass
        else:
            return ConsoleTable(out=stream, formatters=formatters)
    return LiveLine(every=every, out=out, quiet=quiet, formatters=formatters)
