"""``--output prometheus=HOST:PORT``: a ``/metrics`` endpoint for the length
of the run: prometheus-client's WSGI app and threading WSGI server (on a
thread of its own) serving a registry that holds one custom collector, the run's
:class:`~fleetload.outputs.prom_metrics.RunMetrics` (its families built once
per interval, however often it is scraped; the text rendered by
prometheus-client, once per interval and format: :class:`_IntervalCache`).

When the run ends, the endpoint stays up until it has been scraped once more
(at most two of the scrape periods seen, and never more than
:data:`MAX_LINGER` seconds), so the scraper sees the final totals; a run that
nobody scraped ends at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from fleetload.errors import ConfigError
from fleetload.outputs.base import Interval, RunEnd, RunStart
from fleetload.outputs.prom_metrics import RunMetrics

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

MAX_LINGER = 15.0
REQUEST_TIMEOUT = 10.0  # seconds a scraper may take to send its request
SCRAPE_THREADS = 8  # scrapes answered at once (a scraper that never sends its request holds
# one for REQUEST_TIMEOUT at most)
POLL_INTERVAL = 5.0  # seconds the server's loop waits for a request before it looks again


class _Server(ThreadingWSGIServer):
    """prometheus-client's threading WSGI server, answering each scrape on one
    of a few threads kept for the run (rather than on a new thread per
    scrape), and whose closing waits for the scrapes being answered (the last
    one holds the run's final totals)."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before binding: a failed bind closes the server (and the pool).
        self._pool = ThreadPoolExecutor(SCRAPE_THREADS, thread_name_prefix="prometheus-scrape")
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: object) -> None:
        """No access log."""


Answer = tuple[str, list[tuple[str, str]], list[bytes]]  # status, headers, body


class _IntervalCache:
    """prometheus-client's WSGI app, whose answers (rendered by it) are kept
    until the next interval: scrapes in the same interval, with the same
    request (path, query, ``Accept``, ``Accept-Encoding``), get the same
    bytes. It also notes when, and how far into the run, it was scraped."""

    def __init__(self, metrics: RunMetrics, app: WSGIApplication) -> None:
        self.metrics = metrics
        self._app = app
        self._lock = threading.Lock()
        self._version = -1
        self._answers: dict[tuple[str, ...], Answer] = {}
        self.scrapes: list[tuple[float, int]] = []  # (monotonic time, updates seen)
        self.cond = threading.Condition()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        key = tuple(str(environ.get(k, "")) for k in ("PATH_INFO", "QUERY_STRING", "HTTP_ACCEPT",
                                                     "HTTP_ACCEPT_ENCODING"))
        with self._lock:
            seen = self.metrics.updates  # read first: the answer holds at least these
            if seen != self._version:
                self._version, self._answers = seen, {}
            answer = self._answers.get(key)
            if answer is None:
                answer = self._answers[key] = self._render(environ)
        if environ.get("PATH_INFO") != "/favicon.ico":
            with self.cond:
                self.scrapes.append((time.monotonic(), seen))
                del self.scrapes[:-3]
                self.cond.notify_all()
        start_response(answer[0], list(answer[1]))
        return answer[2]

    def _render(self, environ: WSGIEnvironment) -> Answer:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[
                [bytes], object]:
            started.append((status, headers))
            return lambda data: None

        body = list(self._app(environ, keep))
        return started[0][0], started[0][1], body


class PrometheusEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.metrics = RunMetrics()
        self._watch: _IntervalCache | None = None
        self._server: _Server | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def use_metrics(self, metrics: RunMetrics) -> None:
        """Share ``metrics`` with another output (before the run starts)."""
        self.metrics = metrics

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def description(self) -> str:
        return f"prometheus {self.url}"

    def start(self, run: RunStart) -> None:
        self.metrics.run_id = run.run_id
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.metrics)  # type: ignore[arg-type]
        self._watch = _IntervalCache(self.metrics, make_wsgi_app(registry))
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = make_server(self.host, self.port, self._watch, server_class,
                                 handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"--output prometheus: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self._server = server
        self.port = int(server.server_port)
        server.timeout = POLL_INTERVAL
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, args=(server,), name="prometheus",
                                        daemon=True)
        self._thread.start()

    def add_interval(self, interval: Interval) -> None:
        self.metrics.add(interval.snapshot)

    def stop(self, end: RunEnd | None) -> None:
        if self._server is None:
            return
        self._linger()
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(POLL_INTERVAL + 5)
        self._server.server_close()  # waits for the scrapes being answered
        self._server = None

    def _serve(self, server: _Server) -> None:
        """The server's loop: one request at a time (each answered on a thread
        of its own), sleeping until a request comes, or POLL_INTERVAL (not
        serve_forever's 0.5 s) passes, or stop() connects to wake it."""
        while not self._stopping:
            server.handle_request()

    def _wake(self) -> None:
        """Connect to the server, so that its loop looks at ``_stopping``."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "::1" if ":" in self.host else "127.0.0.1"
        try:
            with socket.create_connection((host, self.port), timeout=1.0):
                pass
        except OSError:  # the loop looks again within POLL_INTERVAL anyway
            pass

    def _linger(self) -> None:
        """Wait for one scrape that saw every interval, if anyone scrapes."""
        final = self.metrics.updates
        if self._watch is None:
            return
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
