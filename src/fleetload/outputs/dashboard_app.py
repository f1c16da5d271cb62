"""The live dashboard's web side: a Starlette app served by uvicorn.

``GET /`` the page (the run's table, progress and stop button, drawn from the
latest event when it loads), ``GET /events`` the run's numbers as Server-Sent
Events (one event per interval, the same pre-built event for every page),
``POST /stop`` the stop button, which needs the page's token so that no other
web page can end a run.

The page reuses the HTML report's chart layer and styles
(``report/assets/report.js``, ``report.css``): every event carries the same
chart specs as the report (:func:`fleetload.report.html.chart_data`) and the
page redraws them with ``report.js``. The stop button sends the page's
token.
"""

from __future__ import annotations

import asyncio
import html
import socket
from collections.abc import AsyncIterator
from importlib import resources
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fleetload.outputs.dashboard_state import DashboardState, NewsSignal

# Seconds without news after which the server refreshes its Date header (news,
# once a second, refreshes it too: a little over a second, so that the two share
# one wake-up).
DATE_TICK = 1.5

_PAGE_JS = """
"use strict";
(function () {
  const $ = id => document.getElementById(id);
  const token = document.body.dataset.token;
  const reportCode = $("report-js").textContent;
  let updates = 0;
  function show(d) {
    $("clock").textContent = d.clock;
    $("rate").textContent = d.rate;
    $("progress").value = d.progress;
    const body = $("scenarios");
    body.textContent = "";
    for (const row of d.scenarios) {
      const tr = document.createElement("tr");
      for (const text of row) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    $("report-data").textContent = JSON.stringify(d.charts);
    $("charts").textContent = "";
    new Function(reportCode)();
    if (d.finished) {
      $("state").textContent = d.finished;
      $("stop").disabled = true;
    }
    document.body.dataset.updates = String(++updates);
  }
  const initial = $("initial-event").textContent;
  if (initial) show(JSON.parse(initial));
  const events = new EventSource("events");
  events.onmessage = ev => {
    const d = JSON.parse(ev.data);
    show(d);
    if (d.finished) events.close();
  };
  $("stop").addEventListener("click", () => {
    $("stop").disabled = true;
    fetch("stop", {method: "POST", headers: {"X-Fleetload-Token": token}})
      .then(r => { $("state").textContent = r.ok ? "stopping gracefully..." : "stop refused"; });
  });
})();
"""


def _asset(name: str) -> str:
    return resources.files("fleetload.report").joinpath("assets", name).read_text(encoding="utf-8")


def page(state: DashboardState) -> str:
    esc = html.escape
    columns = "".join(f"<th>{c}</th>" for c in ("scenario", "rate", "p95", "p99 corrected",
                                                 "failed", "dropped", "in flight"))
    # The latest event, so the page shows the run at once (before its first event).
    initial = state.event()[1] if state.version else ""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>fleetload {esc(state.run_id)} — live</title>"
        f"<style>{_asset('report.css')}"
        " progress{width:24em} #controls{margin:.6em 0} #state{margin-left:1em}</style></head>"
        f'<body data-token="{esc(state.token)}"><header><h1>fleetload run {esc(state.run_id)}'
        f'</h1><div class=sub>{esc(state.source)} — <span id="clock">starting</span> — '
        '<span id="rate"></span></div></header><main>'
        '<div id="controls"><progress id="progress" max="1" value="0"></progress>'
        '<button id="stop" type="button">Stop the run</button><span id="state"></span></div>'
        f'<table><thead><tr>{columns}</tr></thead><tbody id="scenarios"></tbody></table>'
        '<div id="charts"></div><div id="render-status" class="bad"></div></main>'
        f'<script type="application/json" id="initial-event">{initial}</script>'
        '<script type="application/json" id="report-data">{"domain":[0,1],"axes":{},'
        '"sections":[]}</script>'
        f'<script type="text/plain" id="report-js">{_asset("report.js")}</script>'
        f"<script>{_PAGE_JS}</script>"
        "<footer>fleetload live dashboard</footer></body></html>\n")


def build_app(state: DashboardState) -> Starlette:
    async def index(request: Request) -> Response:
        return HTMLResponse(page(state), headers={"Cache-Control": "no-cache"})

    async def events(request: Request) -> Response:
        return StreamingResponse(_event_stream(state), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def stop(request: Request) -> Response:
        if request.headers.get("x-fleetload-token") != state.token:
            return JSONResponse({"error": "the dashboard page's token is required"}, 403)
        state.request_stop("stopped from the dashboard")
        return JSONResponse({"stopping": True})

    return Starlette(routes=[Route("/", index), Route("/events", events),
                             Route("/stop", stop, methods=["POST"])])


async def _event_stream(state: DashboardState) -> AsyncIterator[str]:
    """One event per interval until the run finishes (or the page goes)."""
    seen = 0  # nothing to show before the first interval
    state.clients += 1
    try:
        while not state.closed:
            news = state.news.current()  # taken before looking: no news is missed
            if state.version != seen:
                seen, text, finished = state.event()
                yield f"data: {text}\n\n"
                state.delivered = max(state.delivered, seen)
                if finished:
                    return
            await news.wait()  # set by a new interval, the end and close()
    finally:
        state.clients -= 1


def listen(host: str, port: int) -> socket.socket:
    """A bound socket for the server (OSError when the address cannot be had)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn's server, whose main loop sleeps until it has something to do
    (uvicorn's own wakes every 0.1 s to look at ``should_exit``): it refreshes
    the Date header when the state's news wakes the loop anyway (a new
    interval, once a second) or after :data:`DATE_TICK` without news, and
    stops at once when :meth:`exit` wakes it."""

    def __init__(self, config: uvicorn.Config, news: NewsSignal | None = None) -> None:
        super().__init__(config)
        self._news = news
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        loop, wake = asyncio.get_running_loop(), asyncio.Event()
        self._loop, self._wake = loop, wake
        if self._news is not None:
            self._news.attach(loop)
            self._news.listeners.append(wake.set)
        # uvicorn's tick: counter 0 refreshes the Date header, then should_exit is looked at.
        while not await self.on_tick(0):
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), DATE_TICK)
            except TimeoutError:
                pass

    def exit(self) -> None:
        """Stop serving (from any thread), without waiting for the next tick."""
        self.should_exit = True
        self._wake_up()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Ctrl-C (uvicorn's signal handler, when it runs on the main thread)."""
        super().handle_exit(sig, frame)
        self._wake_up()

    def _wake_up(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has just closed
                pass


def make_server(state: DashboardState) -> QuietServer:
    """uvicorn serving the app, without access log; run it with ``sockets=[listen(...)]``."""
    config = uvicorn.Config(build_app(state), log_level="error", access_log=False,
                            lifespan="off", loop="asyncio", ws="none",
                            timeout_graceful_shutdown=1)
    return QuietServer(config, state.news)
