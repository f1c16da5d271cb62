"""The live dashboard's charts: the last :data:`WINDOW` intervals as chart
specs in the HTML report's format (``report.js`` draws them), kept as
ready-made JSON numbers so that each interval costs the same whatever the
window holds: adding a row formats its numbers once, and an event joins
them.

Charts (per scenario unless said): latency p50/p95/p99 and corrected p99,
requests and failures per second, iterations and dropped iterations per
second, VUs in flight with the open connections.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Mapping
from typing import Any

WINDOW = 600  # intervals (seconds) of the run the charts show

# column -> (key in the scenario's row, sub-object or "", per second)
COLUMNS: dict[str, tuple[str, str, bool]] = {
    "p50": ("p50", "duration", False),
    "p95": ("p95", "duration", False),
    "p99": ("p99", "duration", False),
    "corrected p99": ("p99", "latency", False),
    "requests": ("reqs", "", True),
    "failed": ("failed", "", True),
    "iterations": ("iterations", "", True),
    "dropped": ("dropped", "", True),
    "vus": ("vus", "", False),
}


def _number(v: Any, span: float = 1.0) -> str:
    return "null" if v is None else json.dumps(float(v) / span)


def _chart(title: str, unit: str, series: list[tuple[str, str, bool]],
           note: str = "") -> dict[str, Any]:
    return {"title": title, "unit": unit, "axis": "run", "note": note,
            "series": [{"name": n, "values": v, "dash": d} for n, v, d in series]}


class ChartWindow:
    """The charts of the last ``window`` rows, one point per row."""

    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self.rows = 0  # rows added in all
        self.t: deque[float] = deque(maxlen=window)
        self.first_dt: deque[float] = deque(maxlen=window)
        self.times: deque[str] = deque(maxlen=window)
        self.connections: deque[str] = deque(maxlen=window)
        self.columns: dict[str, dict[str, deque[str]]] = {}  # scenario -> column -> numbers
        self.last_seen: dict[str, int] = {}  # scenario -> number of its last row
        self._mark = secrets.token_hex(8)

    def add_row(self, row: Mapping[str, Any]) -> None:
        """One ``timeline.jsonl`` row."""
        span = float(row.get("dt") or 1.0) or 1.0
        for name in row["scenarios"]:
            if name not in self.columns:
                self.columns[name] = {c: deque(["null"] * len(self.t), maxlen=self.window)
                                      for c in COLUMNS}
            self.last_seen[name] = self.rows
        for name, cols in self.columns.items():
            sc = row["scenarios"].get(name) or {}
            for column, (key, sub, per_s) in COLUMNS.items():
                v = (sc.get(sub) or {}).get(key) if sub else sc.get(key)
                cols[column].append(_number(v, span if per_s else 1.0))
        self.t.append(float(row["t"]))
        self.first_dt.append(float(row.get("dt") or 1.0))
        self.times.append(json.dumps(float(row["t"])))
        self.connections.append(_number(row.get("connections") or 0.0))
        self.rows += 1
        oldest = self.rows - len(self.t)
        for name in [n for n, last in self.last_seen.items() if last < oldest]:
            del self.columns[name], self.last_seen[name]

    def to_json(self) -> str:
        """The chart specs as JSON (the window's points, oldest first)."""
        names = sorted(self.columns)
        values: list[deque[str]] = []

        def ref(numbers: deque[str]) -> str:
            values.append(numbers)
            return f"{self._mark}:{len(values) - 1}"

        cols = self.columns
        latency = [_chart(f"Latency: {n}", "ms", [
            ("p50", ref(cols[n]["p50"]), False), ("p95", ref(cols[n]["p95"]), False),
            ("p99", ref(cols[n]["p99"]), False),
            ("corrected p99", ref(cols[n]["corrected p99"]), True)],
            "http_req_duration; dashed: http_req_latency (from the intended start)")
            for n in names]
        throughput = [
            _chart("Requests per second", "/s", [
                *((f"{n} requests", ref(cols[n]["requests"]), False) for n in names),
                *((f"{n} failed", ref(cols[n]["failed"]), True) for n in names)]),
            _chart("Iterations per second", "/s", [
                *((f"{n} iterations", ref(cols[n]["iterations"]), False) for n in names),
                *((f"{n} dropped", ref(cols[n]["dropped"]), True) for n in names)])]
        concurrency = [_chart("VUs / in flight and connections", "", [
            *((n, ref(cols[n]["vus"]), False) for n in names),
            ("open connections", ref(self.connections), True)])]
        t = self.t
        spec = {"domain": [t[0] - self.first_dt[0] if t else 0.0, max(t[-1] if t else 1.0, 1.0)],
                "axes": {"run": ref(self.times)},
                "sections": [{"title": "Latency over time", "charts": latency},
                             {"title": "Throughput and failures", "charts": throughput},
                             {"title": "Concurrency", "charts": concurrency}]}
        parts = json.dumps(spec, separators=(",", ":")).split(f'"{self._mark}:')
        out = [parts[0]]
        for part in parts[1:]:
            index, rest = part.split('"', 1)
            out.append("[" + ",".join(values[int(index)]) + "]" + rest)
        return "".join(out)
