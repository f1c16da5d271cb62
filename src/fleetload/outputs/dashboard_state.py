"""What the live dashboard shows, shared between the merging thread (which
adds each interval) and the web server's thread (which sends it): one event
per interval, built once however many pages are open, and a signal
(:class:`NewsSignal`) that wakes the pages' event streams when there is news."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from fleetload.durations import format_duration
from fleetload.outputs.base import RunControl
from fleetload.outputs.console import ScenarioState, TableState
from fleetload.outputs.dashboard_charts import ChartWindow


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


class NewsSignal:
    """Set from any thread when the state has news (a new interval, the end),
    awaited by the event streams on the web server's event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self.listeners: list[Callable[[], None]] = []  # called on the loop with each news

    def current(self) -> asyncio.Event:
        """The event that the next news sets (called on the server's loop,
        before the stream looks at the state)."""
        if self._event is None:
            self._loop = self._loop or asyncio.get_running_loop()
            self._event = asyncio.Event()
        return self._event

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's loop, known before any stream asks (news then reaches
        the listeners from the first interval)."""
        if self._loop is None:
            self._loop = loop

    def notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._fire)
            except RuntimeError:  # the loop has just closed
                pass

    def _fire(self) -> None:
        fired, self._event = self._event, asyncio.Event()
        if fired is not None:
            fired.set()
        for listener in self.listeners:
            listener()


class DashboardState:
    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(18)
        self.run_id = ""
        self.source = ""
        self.table = TableState()
        self.charts = ChartWindow()
        self.finished: str | None = None
        self.version = 0
        self.delivered = -1
        self.clients = 0
        self.closed = False
        self.control: RunControl | None = None
        self.news = NewsSignal()
        self._lock = threading.Lock()
        self._event: tuple[int, str, bool] | None = None

    def add_row(self, row: Mapping[str, Any], scheduled: float | None) -> None:
        with self._lock:
            self.charts.add_row(row)
            self.table.add_row(row, scheduled)
            self.version += 1
        self.news.notify()

    def finish(self, text: str) -> None:
        with self._lock:
            self.finished = text
            self.version += 1
        self.news.notify()

    def close(self) -> None:
        """No more events: the streams end."""
        self.closed = True
        self.news.notify()

    def request_stop(self, reason: str) -> None:
        if self.control is not None:
            self.control.request_stop(reason)

    def event(self) -> tuple[int, str, bool]:
        """(version, the event's JSON, whether the run has finished): the
        header, the scenario table and the charts, built once per version."""
        with self._lock:
            if self._event is not None and self._event[0] == self.version:
                return self._event
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
            text = (json.dumps(head, separators=(",", ":"))[:-1] + ',"charts":'
                    + self.charts.to_json() + "}")
            # "<" escaped: the data may end up inside a script element.
            self._event = (self.version, text.replace("<", "\\u003c"), self.finished is not None)
            return self._event
