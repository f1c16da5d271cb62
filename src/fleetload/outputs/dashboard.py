"""``--output dashboard=HOST:PORT``: a live web dashboard for the run
(a Starlette app, :mod:`~fleetload.outputs.dashboard_app`, served by uvicorn on a
thread of its own, on a socket bound before the run starts): the console table's
numbers, the HTML report's charts redrawn every second over Server-Sent
Events, and a button that stops the run gracefully (:class:`WithRunControl`).

When the run ends, the page gets the final numbers (the server waits up to
:data:`FINAL_WAIT` seconds for connected pages to receive them) and the server
stops.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

from fleetload.errors import ConfigError
from fleetload.outputs.base import Interval, RunControl, RunEnd, RunStart
from fleetload.outputs.dashboard_app import QuietServer, listen, make_server
from fleetload.outputs.dashboard_state import DashboardState

FINAL_WAIT = 2.0
START_TIMEOUT = 10.0


class Dashboard:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.state = DashboardState()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def description(self) -> str:
        return f"dashboard {self.url}"

    def set_run_control(self, control: RunControl) -> None:
        self.state.control = control

    def start(self, run: RunStart) -> None:
        st = self.state
        st.run_id, st.source = run.run_id, run.source
        st.table.planned = run.planned
        try:
            sock = listen(self.host, self.port)
        except OSError as exc:
            raise ConfigError(f"--output dashboard: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self.port = int(sock.getsockname()[1])
        self._sock = sock
        server = self._server = make_server(st)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                        name="dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        print(f"fleetload: live dashboard on {self.url}", file=sys.stderr, flush=True)

    def add_interval(self, interval: Interval) -> None:
        self.state.add_row(dict(interval.row), interval.scheduled_rate)

    def stop(self, end: RunEnd | None) -> None:
        server, st = self._server, self.state
        if server is None:
            return
        run = (end.summary.get("run") or {}) if end is not None else {}
        verdict = str(run.get("verdict", "ended")).upper() if end is not None else "FAILED"
        st.finish(f"finished: {verdict} (exit {end.exit_code})" if end is not None
                  else f"finished: {verdict}")
        deadline = time.monotonic() + FINAL_WAIT
        while st.clients and st.delivered < st.version and time.monotonic() < deadline:
            time.sleep(0.05)
        st.close()
        server.exit()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._sock = None
