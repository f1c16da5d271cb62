"""The live console table (rich) shown while a run goes, when standard error
is a terminal; elsewhere (a pipe, a CI log) the plain live line
(:mod:`fleetload.outputs.live`).

One row per scenario: achieved rate, service-time p95 and corrected
(intended-start) p99 of the last second, failures so far with the top reason,
dropped iterations, iterations in flight; under it the run's achieved and
scheduled rate, a progress bar, and the executors' own status lines.
:func:`render` is a pure function of :class:`TableState`, fed with
``timeline.jsonl`` rows.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from fleetload.durations import format_duration
from fleetload.outputs.base import Interval, Output, RunEnd, RunStart
from fleetload.outputs.live import BEHIND_WARN, LiveLine, StatusFormatter


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


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}ms"


def _failures(st: ScenarioState) -> Text:
    if not st.reqs:
        return Text("-")
    text = Text(f"{100.0 * st.failed / st.reqs:.2f}%",
                style="bold red" if st.failed else "")
    top = max(st.reasons.items(), key=lambda kv: kv[1], default=None)
    if top is not None and st.failed:
        text.append(f" {top[0]} ({100.0 * top[1] / st.failed:.0f}%)", style="red")
    return text


def render(state: TableState) -> RenderableType:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("scenario", "left"), ("rate", "right"), ("p95", "right"),
                         ("p99 corrected", "right"), ("failed", "left"),
                         ("dropped", "right"), ("in flight", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, st in sorted(state.scenarios.items()):
        table.add_row(name, f"{st.rate:,.0f} {st.unit}", _ms(st.p95), _ms(st.p99_corrected),
                      _failures(st),
                      Text(f"{st.dropped:,.0f}", style="bold yellow" if st.dropped else ""),
                      f"{st.in_flight:,.0f}")
    planned = format_duration(state.planned) if state.planned < 86400 else "until stopped"
    achieved = f"{state.achieved:,.0f} it/s"
    if state.scheduled:
        achieved += f" of {state.scheduled:,.0f} scheduled"
    line = Text(f"{format_duration(state.t):>7} / {planned}  {achieved}")
    if state.behind > BEHIND_WARN:
        line.append(f"  BEHIND SCHEDULE by {format_duration(state.behind)}", style="bold red")
    parts: list[RenderableType] = [table, line]
    if state.planned < 86400:
        parts.append(ProgressBar(total=max(state.planned, 1e-9),
                                 completed=min(state.t, state.planned), width=60))
    parts.extend(Text(f"  {name}: {text}") for name, text in sorted(state.status.items()))
    return Group(*parts)


class ConsoleTable:
    """An output: the table above, redrawn every interval on ``out``."""

    def __init__(self, *, out: TextIO | None = None,
                 formatters: Mapping[str, StatusFormatter] | None = None) -> None:
        self.formatters = dict(formatters or {})
        self.state = TableState()
        self.console = Console(file=out or sys.stderr)
        self._live: Live | None = None

    def description(self) -> str:
        return "live console table"

    def start(self, run: RunStart) -> None:
        self.state.planned = run.planned

    def add_interval(self, interval: Interval) -> None:
        status = {}
        for name, sc in interval.row["scenarios"].items():
            fmt = self.formatters.get(name)
            text = fmt(sc["status"]) if fmt and "status" in sc else None
            if text:
                status[name] = text
        self.state.add_row(interval.row, interval.scheduled_rate, status)
        if self._live is None:
            self._live = Live(render(self.state), console=self.console, auto_refresh=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        self._live.update(render(self.state), refresh=True)

    def stop(self, end: RunEnd | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def live_output(*, every: float, out: TextIO | None, quiet: bool,
                formatters: Mapping[str, StatusFormatter]) -> Output:
    """The console table when ``out`` (standard error by default) is a
    terminal, else the plain live line."""
    stream = out or sys.stderr
    if not quiet and stream.isatty():
        return ConsoleTable(out=stream, formatters=formatters)
    return LiveLine(every=every, out=out, quiet=quiet, formatters=formatters)
