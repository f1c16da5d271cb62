"""Pure-ASGI middlewares (cheaper than BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetplane.auth import WWW_AUTHENTICATE, bearer_token, key_matches
from fleetplane.metrics import Metrics
from fleetplane.problems import ACME_RATE_LIMITED, PROBLEM_JSON, problem_body
from fleetplane.ratelimit import TokenBucket


async def _send_problem(
    send: Send, status: int, detail: str, type_: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> None:
    body = problem_body(status, detail, type_)
    raw_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Latency histogram per route template (not raw path: ids would explode cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], object] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            key = (scope["method"], template, status)
            child = self._children.get(key)
            if child is None:
                child = self.metrics.request_seconds.labels(*key)
                self._children[key] = child
            child.observe(time.perf_counter() - start)  # type: ignore[attr-defined]


class GuardMiddleware:
    """Token-bucket rate limit on /api and /acme, Bearer API keys on /api."""

    def __init__(
        self, app: ASGIApp, *, keys: Iterable[str], bucket: TokenBucket | None, metrics: Metrics
    ) -> None:
        self.app = app
        self.keys = tuple(keys)
        self.bucket = bucket
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_api = path.startswith("/api/")
        is_acme = path.startswith("/acme/")
        if self.bucket is not None and (is_api or is_acme):
            wait = self.bucket.take()
            if wait > 0:
                self.metrics.rate_limited.inc()
                await _send_problem(
                    send,
                    429,
                    "rate limit exceeded",
                    ACME_RATE_LIMITED if is_acme else None,
                    [("retry-after", str(max(1, math.ceil(wait))))],
                )
                return
        if is_api:
            token = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    token = bearer_token(value.decode("latin-1"))
                    break
            if not key_matches(token, self.keys):
                await _send_problem(
                    send,
                    401,
                    "missing or invalid API key (Authorization: Bearer <key>)",
                    headers=[("www-authenticate", WWW_AUTHENTICATE)],
                )
                return
        await self.app(scope, receive, send)
