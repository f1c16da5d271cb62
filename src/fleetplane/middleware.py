"""Pure-ASGI middlewares (cheaper than BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetplane.auth import CERTCTL_WWW_AUTHENTICATE, WWW_AUTHENTICATE, bearer_token, key_matches
from fleetplane.metrics import Metrics
from fleetplane.problems import ACME_RATE_LIMITED, GO_TEXT, PROBLEM_JSON, problem_body
from fleetplane.profile import Profile


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


Limiter = Callable[[str], float]
"""Takes a token for a client key; 0.0 or the seconds until one is free."""

_TEXT_HEADERS = [(b"content-type", GO_TEXT.encode()), (b"x-content-type-options", b"nosniff")]


async def _send_text(send: Send, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
    """certctl's ``http.Error``: a JSON-looking body sent as text/plain."""
    raw_headers = [
        *_TEXT_HEADERS,
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


class GuardMiddleware:
    """Rate limit and Bearer API keys, as the profile places them.

    fleetplane: one bucket on /api and /acme, keys on /api. certctl: a bucket
    per client IP on every path (probes with their own buckets, as certctl
    runs them through a second limiter), keys on everything but the probes
    and /acme, a request id on every response.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: Iterable[str],
        profile: Profile,
        limiter: Limiter | None,
        open_limiter: Limiter | None,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.keys = tuple(keys)
        self.profile = profile
        self.limiter = limiter
        self.open_limiter = open_limiter
        self.metrics = metrics
        self.certctl = profile.auth_on_unknown_paths
        self.open_paths = frozenset({profile.health_path, profile.ready_path, profile.version_path})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.certctl:
            await self._certctl(scope, receive, send)
        else:
            await self._fleetplane(scope, receive, send)

    async def _fleetplane(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        is_api = path.startswith("/api/")
        is_acme = path.startswith("/acme/")
        if self.limiter is not None and (is_api or is_acme):
            wait = self.limiter("")
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
        if is_api and not key_matches(bearer_token(_authorization(scope)), self.keys):
            await _send_problem(
                send,
                401,
                "missing or invalid API key (Authorization: Bearer <key>)",
                headers=[("www-authenticate", WWW_AUTHENTICATE)],
            )
            return
        await self.app(scope, receive, send)

    async def _certctl(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        path: str = scope["path"]
        is_open = path in self.open_paths or path.startswith("/acme/")
        limiter = self.open_limiter if path in self.open_paths else self.limiter
        if limiter is not None:
            client = scope.get("client")
            if limiter(client[0] if client else "unknown") > 0:
                self.metrics.rate_limited.inc()
                # certctl: Retry-After 1 whatever the bucket says.
                await _send_text(send_with_id, 429, b'{"error":"Rate limit exceeded"}\n', [("retry-after", "1")])
                return
        if not is_open:
            refusal = self._certctl_auth(_authorization(scope))
            if refusal is not None:
                body, headers = refusal
                await _send_text(send_with_id, 401, body, headers)
                return
        await self.app(scope, receive, send_with_id)

    def _certctl_auth(self, header: str | None) -> tuple[bytes, list[tuple[str, str]]] | None:
        """certctl's Bearer check and its three 401 bodies; None when the key is good."""
        if not header:
            return b'{"error":"Authorization header required"}\n', [("www-authenticate", CERTCTL_WWW_AUTHENTICATE)]
        if len(header) < 8 or not header.startswith("Bearer "):
            return b'{"error":"Invalid Authorization header format, expected: Bearer <token>"}\n', []
        if not key_matches(header[7:], self.keys):
            return b'{"error":"Invalid API key"}\n', []
        return None
