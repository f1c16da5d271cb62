"""What the live dashboard shows, shared between the merging thread (which
adds each interval) and the web server's thread (which renders it)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from fleetload.durations import format_duration
from fleetload.outputs.base import RunControl
from fleetload.outputs.console import ScenarioState, TableState

WINDOW = 600  # seconds of the run the charts show


def _chart(title: str, unit: str, series: list[tuple[str, list[float | None], bool]],
           note: str = "") -> dict[str, Any]:
    return {"title": title, "unit": unit, "axis": "run", "note": note,
            "series": [{"name": n, "values": v, "dash": d} for n, v, d in series]}


def live_charts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Chart specs in the HTML report's format (``report.js`` draws them),
    one point per interval."""
    t = [float(r["t"]) for r in rows]
    names = sorted({n for r in rows for n in r["scenarios"]})

    def col(name: str, key: str, sub: str | None = None, per_s: bool = False) -> list[float | None]:
        out: list[float | None] = []
        for r in rows:
            sc = r["scenarios"].get(name) or {}
            v = (sc.get(sub) or {}).get(key) if sub else sc.get(key)
            span = (float(r.get("dt") or 1.0) or 1.0) if per_s else 1.0
            out.append(None if v is None else float(v) / span)
        return out

    latency = [_chart(f"Latency: {n}", "ms", [
        ("p50", col(n, "p50", "duration"), False), ("p95", col(n, "p95", "duration"), False),
        ("p99", col(n, "p99", "duration"), False),
        ("corrected p99", col(n, "p99", "latency"), True)],
        "http_req_duration; dashed: http_req_latency (from the intended start)") for n in names]
    throughput = [
        _chart("Requests per second", "/s", [
            *((f"{n} requests", col(n, "reqs", per_s=True), False) for n in names),
            *((f"{n} failed", col(n, "failed", per_s=True), True) for n in names)]),
        _chart("Iterations per second", "/s", [
            *((f"{n} iterations", col(n, "iterations", per_s=True), False) for n in names),
            *((f"{n} dropped", col(n, "dropped", per_s=True), True) for n in names)])]
    concurrency = [_chart("VUs / in flight and connections", "", [
        *((n, col(n, "vus"), False) for n in names),
        ("open connections", [float(r.get("connections") or 0.0) for r in rows], True)])]
    return {"domain": [t[0] - float(rows[0].get("dt") or 1.0) if t else 0.0,
                       max(t[-1] if t else 1.0, 1.0)],
            "axes": {"run": t},
            "sections": [{"title": "Latency over time", "charts": latency},
                         {"title": "Throughput and failures", "charts": throughput},
                         {"title": "Concurrency", "charts": concurrency}]}


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
        self.table = TableState()
        self.rows: list[dict[str, Any]] = []
        self.finished: str | None = None
        self.version = 0
        self.delivered = -1
        self.clients = 0
        self.closed = False
        self.control: RunControl | None = None
        self._lock = threading.Lock()

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
        return dict(head, charts=live_charts(rows[-WINDOW:]))
