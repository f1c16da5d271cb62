"""The HTTP/1.1 client of the load generator: URL handling, request building and
one keep-alive pool per origin.

Hot path (``request()`` with no per-request headers/body/params on a warm
pool): two dict lookups for the pre-encoded request, ``popitem()`` of an idle
connection, one ``transport.write``, one Future, two ``perf_counter()`` calls
plus one per ``data_received``.

Timeouts: deadlines are checked by a sweeper that runs every
``SWEEP_INTERVAL`` (0.1 s) while the client has connections, so a timeout of
one second or more fires up to ~0.1 s late; shorter timeouts arm a precise
per-request timer instead. ``read_timeout`` is measured from the moment the
request was written and restarts with every received chunk; ``connect_timeout``
covers name resolution, TCP connect and TLS handshake; ``total_timeout`` (or the
per-request ``timeout``) covers the whole ``request()`` call.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, cast
from urllib.parse import urlencode

from fleetload._version import __version__
from fleetload.protocols.http.connection import Connection
from fleetload.protocols.http.errors import ErrorClass
from fleetload.protocols.http.methods import MethodShortcuts
from fleetload.protocols.http.pool import AcquireFailed, Pool
from fleetload.protocols.http.prepared import Head, Prepared
from fleetload.protocols.http.response import Response, Timings
from fleetload.protocols.http.tls import build_ssl_context
from fleetload.protocols.http.urls import (
    MISSING,
    Target,
    check_header,
    is_token,
    split_url,
)
from fleetload.protocols.http.urls import payload as encode_body

_perf = time.perf_counter

SWEEP_INTERVAL: Final = 0.1
#: Bodies up to this size are sent in the same write as the headers.
_COALESCE_BODY = 16 * 1024
_CACHE_LIMIT = 10_000
_RETRYABLE = frozenset({ErrorClass.CONNECTION_CLOSED, ErrorClass.CONNECTION_RESET})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# One encoder for every request: json.dumps with options builds a new one per call.


class HttpClient(MethodShortcuts):
    """HTTP/1.1 client with a keep-alive pool per origin (see module docstring).

    ``request()`` never raises for network or protocol failures: it returns a
    :class:`Response` with ``error`` set. It raises ``ValueError`` for script
    bugs (invalid URL, unsupported scheme, invalid header). A client belongs to
    the event loop it is first used in.
    """

    __slots__ = (
        "_base",
        "_ca_file",
        "_client_cert",
        "_closed",
        "_connect_timeout",
        "_defaults",
        "_heads",
        "_insecure",
        "_keep_alive",
        "_loop",
        "_max_conns",
        "_pools",
        "_prepared",
        "_read_timeout",
        "_ssl_ctx",
        "_sweep_handle",
        "_targets",
        "_total_timeout",
    )

    def __init__(self, *, base_url: str | None = None, headers: Mapping[str, str] | None = None,
                 bearer_token: str | None = None, insecure: bool = False,
                 ca_file: str | None = None, client_cert: tuple[str, str] | None = None,
                 connect_timeout: float = 10.0,
                 read_timeout: float = 30.0, total_timeout: float = 60.0,
                 max_connections_per_origin: int | None = None, keep_alive: bool = True,
                 user_agent: str = f"fleetload/{__version__}") -> None:
        for name, value in (("connect_timeout", connect_timeout),
                            ("read_timeout", read_timeout), ("total_timeout", total_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if max_connections_per_origin is not None and max_connections_per_origin < 1:
            raise ValueError("max_connections_per_origin must be >= 1 or None")
        self._base: str | None = None
        if base_url is not None:
            split_url(base_url)  # validates
            self._base = base_url
        defaults: dict[str, tuple[str, str]] = {}
        if user_agent:
            defaults["user-agent"] = ("User-Agent", user_agent)
        if bearer_token:
            defaults["authorization"] = ("Authorization", f"Bearer {bearer_token}")
        for k, v in (headers or {}).items():
            v = str(v)
            check_header(k, v)
            defaults[k.lower()] = (k, v)
        self._defaults = defaults
        self._insecure = insecure
        self._ca_file = ca_file
        self._client_cert: tuple[str | None, str | None] = client_cert or (None, None)
        self._ssl_ctx: ssl.SSLContext | None = None
        if ca_file is not None or insecure or (base_url or "").startswith("https:"):
            # Loading CA certificates takes tens of milliseconds: done here, before
            # a run starts, not on the event loop while the first iterations are due.
            self._ssl_ctx = build_ssl_context(insecure=insecure, ca_file=ca_file,
                                              client_cert=self._client_cert[0],
                                              client_key=self._client_cert[1])
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._total_timeout = float(total_timeout)
        self._max_conns = max_connections_per_origin
        self._keep_alive = keep_alive
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._prepared: dict[str, dict[str, Prepared]] = {}
        self._heads: dict[tuple[str, str, str | None, bool], Head] = {}
        self._targets: dict[str, Target] = {}
        self._sweep_handle: asyncio.TimerHandle | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (f"<HttpClient base_url={self._display_base()!r} pools={len(self._pools)} "
                f"open_connections={self.open_connections}>")

    def _display_base(self) -> str | None:
        if self._base is None:
            return None
        try:
            return split_url(self._base).display
        except ValueError:
            return "<invalid>"

    # -- public API ----------------------------------------------------------------
    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                body: bytes | str | None = None, json: Any = MISSING,
                params: Mapping[str, str | int] | None = None,
                timeout: float | None = None) -> Coroutine[Any, Any, Response]:
        """Send one request; awaiting gives its :class:`Response` (see class docstring)."""
        return self.send(method, url, headers, body, json, params, timeout, None)

    async def send(self, method: str, url: str, headers: Mapping[str, str] | None,
                   body: bytes | str | None, json: Any,
                   params: Mapping[str, str | int] | None, timeout: float | None,
                   sink: Callable[[Response], None] | None) -> Response:
        """:meth:`request` with positional arguments and a ``sink`` that sees the
        response before it is returned (the engine records metrics there): one
        coroutine per request for callers that wrap the client."""
        started = _perf()
        if headers or params or body is not None or json is not MISSING:
            prep = self._prepare(method, url, headers, body, json, params, cache=False)
        else:
            try:
                prep = self._prepared[method][url]
            except KeyError:
                prep = self._prepare(method, url, None, None, MISSING, None, cache=True)
        if timeout is None:
            deadline = started + self._total_timeout
        elif timeout > 0:
            deadline = started + timeout
        else:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        idle = prep.idle
        if idle:  # the hot path: a warm pool
            conn = idle.popitem()[0]
            try:
                resp = await conn.send(prep, started, deadline)
            except asyncio.CancelledError:
                conn.cancel()
                raise
            if resp.error is not None and resp.error in _RETRYABLE and not resp.bytes_received:
                # a reused keep-alive connection died before answering: retry once, fresh
                resp = await self._send_slow(prep, started, deadline, True)
        else:
            resp = await self._send_slow(prep, started, deadline, False)
        if sink is not None:
            sink(resp)
        return resp

    async def _send_slow(self, prep: Prepared, started: float, deadline: float,
                         fresh: bool) -> Response:
        """A request that found no idle connection, or the one retry on a fresh
        connection after a reused one died before answering."""
        while True:
            got = await self._acquire(prep, started, deadline, fresh,
                                      _perf() - started if fresh else 0.0)
            if isinstance(got, Response):
                return got
            conn = got
            reused = conn.reused
            try:
                resp = await conn.send(prep, started, deadline)
            except asyncio.CancelledError:
                conn.cancel()
                raise
            if (resp.error is None or fresh or not reused or resp.error not in _RETRYABLE
                    or resp.bytes_received):
                return resp
            fresh = True

    async def close(self) -> None:
        """Close all pooled connections; in-flight requests fail with ``other``."""
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None
        pools = list(self._pools.values())
        self._pools.clear()
        self._prepared.clear()
        self._heads.clear()
        for pool in pools:
            pool.close()
        if pools:
            await asyncio.sleep(0)  # let transports run connection_lost

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def open_connections(self) -> int:
        """Open (or connecting) connections over all origins."""
        return sum(len(p.conns) for p in self._pools.values())

    @property
    def tls_options(self) -> tuple[bool, str | None]:
        """``(insecure, ca_file)``: how this client verifies servers."""
        return self._insecure, self._ca_file

    @property
    def total_timeout(self) -> float:
        return self._total_timeout

    def prepare(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                json: Any = MISSING) -> Prepared:
        """The encoded request, not cached; ``.pool`` is its origin's :class:`Pool`
        (for connections held outside the pool, e.g. one per fleet agent)."""
        return self._prepare(method, url, headers, None, json, None, cache=False)

    # -- slow path -----------------------------------------------------------------
    async def _acquire(self, prep: Prepared, started: float, deadline: float, fresh: bool,
                       extra_blocked: float) -> Connection | Response:
        """A connection from the pool's slow path (waiting, connecting), with
        its phases set for the response; or the failure as a Response."""
        if self._sweep_handle is None:
            self._start_sweeper()
        try:
            pool = cast(Pool, prep.pool)  # requests are prepared on this client's pools
            conn, blocked, connecting, tls = await pool.acquire(deadline, fresh=fresh)
        except AcquireFailed as f:
            return _failure(prep, started, f.error, f.detail, f.blocked + extra_blocked,
                            f.connecting, f.tls)
        conn.slow = True
        conn.blocked = blocked + extra_blocked
        conn.connecting = connecting
        conn.tls = tls
        conn.t_send = _perf()
        return conn

    def _start_sweeper(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._sweep_handle = loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _sweep(self) -> None:
        now = _perf()
        busy = False
        for pool in list(self._pools.values()):
            pool.sweep(now)
            busy = busy or pool.busy
        if busy and self._loop is not None and not self._loop.is_closed():
            self._sweep_handle = self._loop.call_later(SWEEP_INTERVAL, self._sweep)
        else:
            self._sweep_handle = None

    # -- URL handling and request building -----------------------------------------
    def _resolve(self, url: str) -> str:
        if "://" in url[:16]:
            return url
        if self._base is None:
            raise ValueError(f"relative URL {url!r} needs base_url")
        if not url or url[0] in "?#":
            return self._base + url
        return self._base.rstrip("/") + "/" + url.lstrip("/")

    def _target(self, url: str) -> Target:
        t = self._targets.get(url)
        if t is None:
            t = split_url(self._resolve(url))
            if len(self._targets) >= _CACHE_LIMIT:
                self._targets.clear()
            self._targets[url] = t
        return t

    def _pool(self, t: Target) -> Pool:
        key = (t.scheme, t.host, t.port)
        pool = self._pools.get(key)
        if pool is None:
            loop = asyncio.get_running_loop()
            if self._loop is not None and self._loop is not loop:
                # used from a new event loop: the old connections are unusable
                for old in self._pools.values():
                    old.close()
                self._pools.clear()
                self._prepared.clear()
                self._heads.clear()
                if self._sweep_handle is not None:
                    self._sweep_handle.cancel()
                    self._sweep_handle = None
            self._loop = loop
            ctx = None
            if t.scheme == "https":
                if self._ssl_ctx is None:
                    self._ssl_ctx = build_ssl_context(insecure=self._insecure,
                                                      ca_file=self._ca_file,
                                                      client_cert=self._client_cert[0],
                                                      client_key=self._client_cert[1])
                ctx = self._ssl_ctx
            pool = Pool(loop, t.scheme, t.host, t.port, ssl_context=ctx,
                        max_connections=self._max_conns, keep_alive=self._keep_alive,
                        connect_timeout=self._connect_timeout,
                        read_timeout=self._read_timeout)
            self._pools[key] = pool
        return pool

    def _prepare(self, method: str, url: str, headers: Mapping[str, str] | None,
                 body: bytes | str | None, json: Any, params: Mapping[str, str | int] | None,
                 *, cache: bool) -> Prepared:
        """The encoded request. The request line and headers are built once per
        (method, URL, content type) when the call has no per-request headers
        or params, so a JSON POST per request costs the body's encoding and a
        concatenation, not a header build."""
        if not isinstance(url, str):
            raise ValueError(f"URL must be a str, got {type(url).__name__}")
        content, ctype = encode_body(body, json)
        sized = content is not None
        key = (method, url, ctype, sized)
        head = None if headers or params else self._heads.get(key)
        if head is None:
            m = method.upper()
            if not is_token(m):
                raise ValueError(f"invalid HTTP method {method!r}")
            head = self._build_head(m, url, headers, params, ctype, sized or m in _BODY_METHODS)
            if not headers and not params:
                if len(self._heads) >= _CACHE_LIMIT:
                    self._heads.clear()
                self._heads[key] = head
        data = head.prefix
        separate = None
        if head.sized:
            n = len(content) if content is not None else 0
            data += b"%d\r\n\r\n" % n
            if content:
                if n <= _COALESCE_BODY:
                    data += content
                else:
                    separate = content
        prep = Prepared(head.pool, head.method, head.display, data, separate)
        if cache:
            per_method = self._prepared.get(method)
            if per_method is None:
                per_method = self._prepared[method] = {}
            elif len(per_method) >= _CACHE_LIMIT:
                per_method.clear()
            per_method[url] = prep
        return prep

    def _build_head(self, m: str, url: str, headers: Mapping[str, str] | None,
                    params: Mapping[str, str | int] | None, ctype: str | None,
                    sized: bool) -> Head:
        t = self._target(url)
        target = t.target
        if params:
            q = urlencode([(k, str(v)) for k, v in params.items()])
            target += ("&" if "?" in target else "?") + q
        hdrs = dict(self._defaults)
        if t.auth is not None:
            hdrs["authorization"] = ("Authorization", t.auth)
        if headers:
            for k, v in headers.items():
                v = str(v)
                check_header(k, v)
                hdrs[k.lower()] = (k, v)
        if ctype is not None:
            hdrs.setdefault("content-type", ("Content-Type", ctype))
        # the length is the client's to say, after the other headers
        hdrs.pop("content-length", None)
        hdrs.pop("transfer-encoding", None)
        if not self._keep_alive:
            hdrs.setdefault("connection", ("Connection", "close"))
        host = hdrs.pop("host", ("Host", t.host_header))
        lines = [f"{m} {target} HTTP/1.1", f"Host: {host[1]}"]
        lines.extend(f"{k}: {v}" for k, v in hdrs.values())
        lines.append("Content-Length: " if sized else "\r\n")
        display = t.display if target == t.target else f"{t.scheme}://{t.host_header}{target}"
        return Head(self._pool(t), m, display, "\r\n".join(lines).encode("utf-8"), sized)


def _failure(prep: Prepared, started: float, error: str, detail: str, blocked: float,
             connecting: float, tls: float) -> Response:
    now = _perf()
    return Response(method=prep.method, url=prep.url, error=error, error_detail=detail,
                    timings=Timings(blocked=blocked, connecting=connecting,
                                    tls_handshaking=tls, started=started, finished=now))


__all__ = ["MISSING", "SWEEP_INTERVAL", "HttpClient"]
