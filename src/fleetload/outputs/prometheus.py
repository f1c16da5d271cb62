"""``--output prometheus=HOST:PORT``: a ``/metrics`` endpoint for the length
of the run, served by prometheus-client on a thread of its own from a private
registry holding one custom collector (:class:`~fleetload.outputs.prom_metrics.RunMetrics`).

When the run ends, the endpoint stays up until it has been scraped once more
(at most two of the scrape periods seen, and never more than
:data:`MAX_LINGER` seconds), so the scraper sees the final totals; a run that
nobody scraped ends at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from fleetload.errors import ConfigError
from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.prom_metrics import RunMetrics

MAX_LINGER = 15.0


class _ScrapeWatch:
    """Wraps the collector to see when and how often it is scraped."""

    def __init__(self, metrics: RunMetrics) -> None:
        self.metrics = metrics
        self.scrapes: list[tuple[float, int]] = []  # (monotonic time, updates seen)
        self.cond = threading.Condition()

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        seen = self.metrics.updates  # read first: the families hold at least these
        families = list(self.metrics.collect())
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
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def description(self) -> str:
        return f"prometheus {self.url}"

    def start(self, run: RunStart) -> None:
        self.metrics.run_id = run.run_id
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._watch)  # type: ignore[arg-type]
        try:
            self._server, self._thread = start_http_server(self.port, self.host, registry)
        except OSError as exc:
            raise ConfigError(f"--output prometheus: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self.port = int(self._server.server_port)

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
