"""The status line printed every ``--stats-interval`` while a run goes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from fleetload.durations import format_duration
from fleetload.outputs.base import Interval, RunEnd, RunStart

# A scheduler later than this is "behind schedule" (iterations start late).
BEHIND_WARN = 0.1

StatusFormatter = Callable[[Mapping[str, float]], str | None]


def _p95(rows: list[Mapping[str, Any]]) -> float | None:
    """Largest per-interval p95 in the window: a conservative live figure (the
    exact run-wide percentiles come in the summary)."""
    best = None
    for r in rows:
        for sc in r["scenarios"].values():
            d = sc.get("duration")
            if d and (best is None or d["p95"] > best):
                best = d["p95"]
    return best


def _top_reason(rows: list[Mapping[str, Any]]) -> tuple[str, float] | None:
    reasons: dict[str, float] = {}
    for r in rows:
        for sc in r["scenarios"].values():
            for reason, n in (sc.get("fail_reasons") or {}).items():
                reasons[reason] = reasons.get(reason, 0.0) + n
    return max(reasons.items(), key=lambda kv: kv[1], default=None)


class LiveLine:
    """An output: one line per ``every`` seconds on ``out``, plus one line per
    scenario whose executor formats its own live numbers (a fleet's agents)."""

    def __init__(self, *, every: float, out: TextIO | None = None, quiet: bool = False,
                 formatters: Mapping[str, StatusFormatter] | None = None) -> None:
        self.formatters = dict(formatters or {})
        self.status: dict[str, Mapping[str, float]] = {}
        self.every = every
        self.planned = 0.0
        self.out = out or sys.stderr
        self.quiet = quiet
        self._window: list[Mapping[str, Any]] = []
        self._scheduled: float | None = None
        self._last_print = 0.0
        self._last_t = 0.0
        self.total_dropped = 0.0

    def description(self) -> str:
        return "live line"

    def start(self, run: RunStart) -> None:
        self.planned = run.planned

    def add_interval(self, interval: Interval) -> None:
        row = interval.row
        self._window.append(row)
        self._scheduled = interval.scheduled_rate
        for name, sc in row["scenarios"].items():
            self.total_dropped += sc["dropped"]
            if "status" in sc:
                self.status[name] = sc["status"]
        self._last_t = row["t"]
        if row["t"] - self._last_print >= self.every - 1e-6:
            self.emit(row["t"])

    def stop(self, end: RunEnd | None) -> None:
        self.emit(self._last_t)

    def line(self, now: float) -> str:
        rows = self._window
        span = sum(r["dt"] for r in rows) or 1.0
        reqs = sum(sc["reqs"] for r in rows for sc in r["scenarios"].values())
        iters = sum(sc["iterations"] for r in rows for sc in r["scenarios"].values())
        failed = sum(sc["failed"] for r in rows for sc in r["scenarios"].values())
        dropped = sum(sc["dropped"] for r in rows for sc in r["scenarios"].values())
        in_flight = sum(sc["vus"] for sc in rows[-1]["scenarios"].values()) if rows else 0
        behind = max((max(r["behind"].values(), default=0.0) for r in rows), default=0.0)
        p95 = _p95(rows)
        planned = format_duration(self.planned) if self.planned < 86400 else "until stopped"
        parts = [f"[{format_duration(now):>7} / {planned}]"]
        sched = self._scheduled
        rate = f"{reqs / span:,.0f} req/s" if reqs else f"{iters / span:,.0f} it/s"
        if sched:
            rate += f" ({iters / span:,.0f} of {sched:,.0f} it/s scheduled)"
        parts.append(rate)
        parts.append(f"in flight {in_flight:,.0f}")
        failed_text = f"failed {100.0 * failed / reqs:.2f}%" if reqs else "failed -"
        top = _top_reason(rows)
        if top is not None and failed:
            failed_text += f" (top: {top[0]} {100.0 * top[1] / failed:.0f}%)"
        parts.append(failed_text)
        parts.append(f"p95 {p95:.1f}ms" if p95 is not None else "p95 -")
        parts.append(f"dropped {self.total_dropped:,.0f}" + (f" (+{dropped:,.0f})" if dropped else ""))
        if behind > BEHIND_WARN:
            parts.append(f"BEHIND SCHEDULE by {format_duration(behind)}")
        return " | ".join(parts)

    def emit(self, now: float) -> None:
        if self._window and not self.quiet:
            print(self.line(now), file=self.out, flush=True)
            for name, status in self.status.items():
                fmt = self.formatters.get(name)
                text = fmt(status) if fmt else None
                if text:
                    print(f"    {name}: {text}", file=self.out, flush=True)
        self._window = []
        self._last_print = now
