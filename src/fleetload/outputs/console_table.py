"""The live console table drawn with rich (see :mod:`fleetload.outputs.console`).

:func:`render` is a pure function of :class:`~fleetload.outputs.console.TableState`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from fleetload.durations import format_duration
from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.console import ScenarioState, TableState
from fleetload.outputs.live import BEHIND_WARN, StatusFormatter


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
