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
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fleetload.errors import ConfigError
from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.prom_metrics import RunMetrics

MAX_LINGER = 15.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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


def _handler(watch: _ScrapeWatch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the scraper keeps its connection between scrapes
        timeout = 30.0  # an idle connection's thread ends

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = watch.scrape()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
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
            self._server = server_class((self.host, self.port), _handler(self._watch))
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
