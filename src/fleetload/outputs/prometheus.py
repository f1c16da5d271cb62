"""``--output prometheus=HOST:PORT``: a ``/metrics`` endpoint for the length
of the run: prometheus-client's WSGI app and threading WSGI server (on a
thread of its own) serving a registry that holds one custom collector, the run's
:class:`~fleetload.outputs.prom_metrics.RunMetrics` (its families built once
per interval, however often it is scraped; the text rendered by
prometheus-client).

When the run ends, the endpoint stays up until it has been scraped once more
(at most two of the scrape periods seen, and never more than
:data:`MAX_LINGER` seconds), so the scraper sees the final totals; a run that
nobody scraped ends at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from fleetload.errors import ConfigError
from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.prom_metrics import RunMetrics

if TYPE_CHECKING:
    from prometheus_client.core import Metric

MAX_LINGER = 15.0
REQUEST_TIMEOUT = 10.0  # seconds a scraper may take to send its request


class _Server(ThreadingWSGIServer):
    """prometheus-client's threading WSGI server, whose closing waits for the
    scrapes being answered (the last one holds the run's final totals)."""

    daemon_threads = False
    block_on_close = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        """No access log."""


class _ScrapeWatch:
    """The registry's collector: the run's metrics, and when and how often
    they are scraped."""

    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics
        self.scrapes: list[tuple[float, int]] = []  # (monotonic time, updates seen)
        self.cond = threading.Condition()

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        seen = self.metrics.updates  # read first: the families hold at least these
        families = self.metrics.collect()
        with self.cond:
            self.scrapes.append((time.monotonic(), seen))
            del self.scrapes[:-3]
            self.cond.notify_all()
        return families


class PrometheusEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.metrics = RunMetrics()
        self._watch = _ScrapeWatch(self.metrics)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def use_metrics(self, metrics: RunMetrics) -> None:
        """Share ``metrics`` with another output (before the run starts)."""
        self.metrics = self._watch.metrics = metrics

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def description(self) -> str:
        return f"prometheus {self.url}"

    def start(self, run: RunStart) -> None:
        self.metrics.run_id = run.run_id
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._watch)
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = make_server(self.host, self.port, make_wsgi_app(registry), server_class,
                                 handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"--output prometheus: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self._server = server
        self.port = int(server.server_port)
        self._thread = threading.Thread(target=server.serve_forever, name="prometheus",
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
