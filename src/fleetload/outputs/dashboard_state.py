"""What the live dashboard shows, shared between the merging thread (which
adds each interval) and the web server's thread (which renders it)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from fleetload.durations import format_duration
from fleetload.outputs.base import RunControl
from fleetload.outputs.console import ScenarioState, TableState
from fleetload.report.html import Timeline, chart_data
from fleetload.results import rundir


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}ms"


def _failed(st: ScenarioState) -> str:
    if not st.reqs:
        return "-"
    text = f"{100.0 * st.failed / st.reqs:.2f}%"
    top = max(st.reasons.items(), key=lambda kv: kv[1], default=None)
    if top is not None and st.failed:
        text += f" {top[0]} ({100.0 * top[1] / st.failed:.0f}%)"
    return text


class DashboardState:
    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(18)
        self.run_id = ""
        self.source = ""
        self.run_dir: Any = None
        self.table = TableState()
        self.rows: list[dict[str, Any]] = []
        self.finished: str | None = None
        self.version = 0
        self.delivered = -1
        self.clients = 0
        self.closed = False
        self.control: RunControl | None = None
        self._lock = threading.Lock()
        self._charts: dict[str, Any] = {"domain": [0, 1], "axes": {}, "sections": []}

    def add_row(self, row: dict[str, Any], scheduled: float | None) -> None:
        with self._lock:
            self.rows.append(row)
            self.table.add_row(row, scheduled)
            self.version += 1

    def finish(self, text: str) -> None:
        with self._lock:
            self.finished = text
            self.version += 1

    def request_stop(self, reason: str) -> None:
        if self.control is not None:
            self.control.request_stop(reason)

    def payload(self) -> dict[str, Any]:
        """One event: the header, the scenario table and the report's charts."""
        with self._lock:
            rows = list(self.rows)
            t = self.table
            planned = format_duration(t.planned) if t.planned < 86400 else "until stopped"
            rate = f"{t.achieved:,.0f} it/s"
            if t.scheduled:
                rate += f" of {t.scheduled:,.0f} scheduled"
            scenarios = [[name, f"{st.rate:,.0f} {st.unit}", _ms(st.p95), _ms(st.p99_corrected),
                          _failed(st), f"{st.dropped:,.0f}", f"{st.in_flight:,.0f}"]
                         for name, st in sorted(t.scenarios.items())]
            head = {"clock": f"{format_duration(t.t)} / {planned}", "rate": rate,
                    "progress": min(t.t / t.planned, 1.0) if 0 < t.planned < 86400 else 0.0,
                    "scenarios": scenarios, "finished": self.finished}
        if rows and self.run_dir is not None:
            try:
                self._charts = chart_data(Timeline(rows, self.run_dir / rundir.HLOG), [])
            except (ValueError, OSError):
                pass  # a long run's interval log read mid-write: keep the last charts
        return dict(head, charts=self._charts)
