"""``--output prometheus=HOST:PORT``: a ``/metrics`` endpoint for the length
of the run, on a thread of its own, serving the Prometheus text format of
:class:`~fleetload.outputs.prom_metrics.RunMetrics` (built once per interval,
however often it is scraped).

When the run ends, the endpoint stays up until it has been scraped once more
(at most two of the scrape periods seen, and never more than
:data:`MAX_LINGER` seconds), so the scraper sees the final totals; a run that
nobody scraped ends at once.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time

from fleetload.errors import ConfigError
from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.prom_metrics import RunMetrics

MAX_LINGER = 15.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_LINE = 65536
MAX_HEADERS = 100


class _ScrapeWatch:
    """Serves the exposition and sees when and how often it is scraped."""

    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics
        self.scrapes: list[tuple[float, int]] = []  # (monotonic time, updates seen)
        self.cond = threading.Condition()

    def scrape(self) -> bytes:
        seen = self.metrics.updates  # read first: the text holds at least these
        body = self.metrics.exposition()
        with self.cond:
            self.scrapes.append((time.monotonic(), seen))
            del self.scrapes[:-3]
            self.cond.notify_all()
        return body


def _response(status: str, body: bytes, *, close: bool, content_type: str = CONTENT_TYPE) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode() + body


class _Handler(socketserver.StreamRequestHandler):
    """``GET /metrics`` over kept-alive HTTP/1.1 connections (the scraper keeps
    its connection between scrapes); anything else is 404."""

    timeout = 30.0  # an idle connection's thread ends
    watch: _ScrapeWatch

    def handle(self) -> None:
        try:
            while self._one_request():
                pass
        except (OSError, ValueError):
            pass

    def _one_request(self) -> bool:
        line = self.rfile.readline(MAX_LINE)
        if not line:
            return False
        parts = line.split()
        close, length = False, 0
        for _ in range(MAX_HEADERS):
            header = self.rfile.readline(MAX_LINE)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"connection":
                close = value == b"close"
            elif name == b"content-length":
                length = int(value)
        if length:
            self.rfile.read(min(length, MAX_LINE))
        if len(parts) != 3:
            self.wfile.write(_response("400 Bad Request", b"bad request\n", close=True,
                                       content_type="text/plain"))
            return False
        method, target, version = parts
        close = close or version != b"HTTP/1.1"
        if method == b"GET" and target.split(b"?", 1)[0] == b"/metrics":
            self.wfile.write(_response("200 OK", self.watch.scrape(), close=close))
        else:
            self.wfile.write(_response("404 Not Found", b"not found\n", close=close,
                                       content_type="text/plain"))
        return not close


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class PrometheusEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.metrics = RunMetrics()
        self._watch = _ScrapeWatch(self.metrics)

    def use_metrics(self, metrics: RunMetrics) -> None:
        """Share ``metrics`` with another output (before the run starts)."""
        self.metrics = self._watch.metrics = metrics
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def description(self) -> str:
        return f"prometheus {self.url}"

    def start(self, run: RunStart) -> None:
        self.metrics.run_id = run.run_id
        server_class = _Server6 if ":" in self.host else _Server
        try:
            handler = type("Handler", (_Handler,), {"watch": self._watch})
            self._server = server_class((self.host, self.port), handler)
        except OSError as exc:
            raise ConfigError(f"--output prometheus: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="prometheus",
                                        daemon=True)
        self._thread.start()

    def add_interval(self, interval: Interval) -> None:
        self.metrics.add(interval.snapshot)

    def stop(self, end: RunEnd | None) -> None:
        if self._server is None:
            return
        self._linger()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def _linger(self) -> None:
        """Wait for one scrape that saw every interval, if anyone scrapes."""
        final = self.metrics.updates
        with self._watch.cond:
            scrapes = list(self._watch.scrapes)
            if not scrapes or scrapes[-1][1] >= final:
                return
            gap = scrapes[-1][0] - scrapes[-2][0] if len(scrapes) > 1 else 5.0
            # A busy machine delays a scrape by a second or two: wait a few intervals.
            deadline = time.monotonic() + min(MAX_LINGER, max(3.0 * gap, 3.0))
            while self._watch.scrapes[-1][1] < final:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._watch.cond.wait(left)
