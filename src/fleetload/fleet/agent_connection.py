"""An HTTP agent's own connection: how real fleets connect.

``--connections per-agent``: each agent holds one keep-alive connection to the
target, opened by its registration and reused for heartbeats, work polls and
job status; when the server closes it, the agent's next request opens a new
one (a failed connect makes the agent reconnect with the fleet's backoff).
``--connections per-beat``: every request opens a new connection (and TLS
handshake over https) and closes it after the response: the reconnect storm.
``shared`` (the default) keeps the worker's pooled client, whose connections
grow with requests in flight, not with agents.

An agent's :class:`AgentLink` is the connection's pool (a
:class:`~fleetload.protocols.http.prepared.PoolLike` of at most one
connection): a few slots and an empty dict between requests. Connecting goes
through the target origin's :class:`~fleetload.protocols.http.pool.Pool`
(name resolution, connect and TLS timing), from the agent's source address
when ``--source-addresses`` is set, with the agent's client identity when the
fleet has identities (one SSLContext per agent, built at its first connect).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import TYPE_CHECKING, Any, cast

from fleetload.fleet import metrics as fm
from fleetload.metrics.kinds import make_tags
from fleetload.protocols.http.connection import Connection
from fleetload.protocols.http.errors import ErrorClass
from fleetload.protocols.http.pool import DEFAULT, AcquireFailed, Pool
from fleetload.protocols.http.prepared import Prepared
from fleetload.protocols.http.response import Response, Timings
from fleetload.protocols.http.tls import load_client_identity
from fleetload.protocols.http.urls import MISSING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fleetload.engine.runtime import ScenarioRuntime
    from fleetload.fleet.client_identity import IdentitySource
    from fleetload.fleet.metrics import FleetStats

_perf = time.perf_counter
_RETRYABLE = frozenset({ErrorClass.CONNECTION_CLOSED, ErrorClass.CONNECTION_RESET})

MODES = ("shared", "per-agent", "per-beat")


def connect_error_reason(error: str, detail: str) -> str:
    """A failed connect, as counted in the live line and the summary."""
    if error == ErrorClass.CONNECTION_REFUSED:
        return "connection refused"
    if error == ErrorClass.TLS_ERROR:
        return f"tls handshake failed: {detail}"
    if error in (ErrorClass.CONNECT_TIMEOUT, ErrorClass.TIMEOUT):
        return "connect timeout"
    if "assign requested address" in detail or "already in use" in detail:
        return "address not available"
    return detail


def agent_ssl_context(insecure: bool, ca_file: str | None, cert_pem: bytes,
                      key_pem: bytes) -> ssl.SSLContext:
    """A client context presenting one agent's identity. It trusts ``ca_file``
    alone when given (the system store costs ~850 kB per context: 20,000 agents
    could not hold it), else the system store; ``insecure`` verifies nothing."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_file is not None:
        ctx.load_verify_locations(cafile=ca_file)
    else:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    ctx.set_alpn_protocols(["http/1.1"])
    load_client_identity(ctx, cert_pem, key_pem)
    return ctx


class Dialer:
    """What one worker's agent connections share: the client that encodes the
    requests, the mode, source addresses, identities and the recorders."""

    def __init__(self, rt: ScenarioRuntime, stats: FleetStats, mode: str,
                 sources: list[str], identities: IdentitySource | None) -> None:
        if mode not in ("per-agent", "per-beat"):
            raise ValueError(f"agent connections are per-agent or per-beat, not {mode!r}")
        self.client = rt.client
        self.per_beat = mode == "per-beat"
        self.sources = sources
        self.identities = identities
        self.insecure, self.ca_file = rt.client.tls_options
        self.total_timeout = rt.client.total_timeout
        self.stats = stats
        self.status = stats.status
        self.open: set[Connection] = set()
        self.closing = False
        """The fleet is stopping: no new connections."""
        c = rt.collector
        self._c = c
        self._tags = rt.tags
        self.connect_time = c.trend((fm.CONNECT_DURATION, rt.tags))
        self.handshake = c.trend((fm.TLS_HANDSHAKE, rt.tags))
        self._opened_key = (fm.CONNECTIONS_OPENED, rt.tags)
        self._error_keys: dict[str, Any] = {}
        self.status.setdefault("conns_open", 0.0)
        self.status.setdefault("conns_opened", 0.0)

    def source_for(self, index: int) -> str | None:
        sources = self.sources
        return sources[index % len(sources)] if sources else None

    # -- bookkeeping -----------------------------------------------------------------------
    def opened(self, conn: Connection, connecting: float, tls: float, secure: bool) -> None:
        self.open.add(conn)
        st = self.status
        st["conns_open"] += 1
        st["conns_opened"] += 1
        self._c.add_counter(self._opened_key, 1.0)
        self.connect_time.append(connecting)
        if secure:
            self.handshake.append(connecting + tls)

    def closed(self, conn: Connection) -> None:
        if conn in self.open:
            self.open.discard(conn)
            self.status["conns_open"] -= 1

    def connect_failed(self, reason: str) -> None:
        key = self._error_keys.get(reason)
        if key is None:
            key = self._error_keys[reason] = (
                fm.CONNECT_ERRORS, make_tags({**dict(self._tags), "reason": reason[:80]}))
        self._c.add_counter(key, 1.0)
        self.stats.bump(fm.CONNECT_ERR_PREFIX + reason[:120])

    def close_all(self) -> None:
        for conn in list(self.open):
            conn.abort()
        self.open.clear()


class AgentLink:
    """One agent's connection (at most one) and the pool interface it needs."""

    __slots__ = ("conn", "ctx", "dialer", "hostname", "idle", "index", "keep_alive", "loop",
                 "read_timeout", "waiters")

    def __init__(self, dialer: Dialer, index: int, hostname: str) -> None:
        self.dialer = dialer
        self.index = index
        self.hostname = hostname
        self.conn: Connection | None = None
        self.ctx: ssl.SSLContext | None = None
        self.idle: dict[Connection, None] = {}
        self.waiters: list[asyncio.Future[Connection | None]] | tuple[()] = ()
        self.keep_alive = True
        self.read_timeout = 0.0
        self.loop: asyncio.AbstractEventLoop = cast(asyncio.AbstractEventLoop, None)

    # -- PoolLike ---------------------------------------------------------------------------
    def release(self, conn: Connection) -> None:
        """A response is complete and a request of this agent waits: hand it over."""
        waiters = self.waiters
        while waiters:
            fut = waiters.pop(0)
            if not fut.done():
                fut.set_result(conn)
                if not waiters:
                    self.waiters = ()
                return
        self.waiters = ()
        self.idle[conn] = None

    def discard(self, conn: Connection) -> None:
        self.idle.pop(conn, None)
        self.dialer.closed(conn)
        if conn is self.conn:
            self.conn = None
            waiters, self.waiters = self.waiters, ()
            for fut in waiters:  # they open the next connection
                if not fut.done():
                    fut.set_result(None)

    # -- requests ---------------------------------------------------------------------------
    async def request(self, method: str, url: str, *, json: Any = MISSING,
                      headers: Mapping[str, str] | None = None) -> Response:
        """Like ``HttpClient.request`` over this agent's connection. Requests of
        one agent take turns on its connection (per-agent); per-beat, each
        opens its own."""
        d = self.dialer
        started = _perf()
        base = d.client.prepare(method, url, headers=headers, json=json)
        origin = cast(Pool, base.pool)
        prep = Prepared(self, base.method, base.url, base.data, base.body)
        deadline = started + d.total_timeout
        hold = not d.per_beat
        fresh = False
        while True:
            conn = await self._held() if hold and not fresh else None
            reused = conn is not None
            if conn is None:
                got = await self._open(origin, prep, started, deadline, hold)
                if isinstance(got, Response):
                    return got
                conn = got
            fut = conn.send(prep, started, deadline)
            try:
                resp = await fut
            except asyncio.CancelledError:
                conn.cancel()
                raise
            if (resp.error is None or fresh or not reused or resp.error not in _RETRYABLE
                    or resp.bytes_received):
                break
            fresh = True  # the server closed the idle connection: once more, on a new one
        if not hold:
            conn.abort()
        return resp

    async def _held(self) -> Connection | None:
        """The agent's connection once it is free; None when there is none (open one)."""
        while True:
            conn = self.conn
            if conn is None or conn.closed:
                return None
            if conn in self.idle:
                del self.idle[conn]
                return conn
            fut: asyncio.Future[Connection | None] = conn.loop.create_future()
            self.waiters = [*self.waiters, fut]
            try:
                got = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled() and fut.result() is not None:
                    self.release(cast(Connection, fut.result()))
                raise
            if got is not None and not got.closed:
                return got

    async def _open(self, origin: Pool, prep: Prepared, started: float, deadline: float,
                    hold: bool) -> Connection | Response:
        d = self.dialer
        if self.loop is None:
            self.loop = origin.loop
            self.read_timeout = origin.read_timeout
        if d.closing:
            # the fleet is stopping: this request waits for its cancellation
            await origin.loop.create_future()
        t0 = _perf()
        ctx: Any = DEFAULT
        conn = Connection(self)
        conn.precise = True  # no sweeper watches this connection: a timer per request
        if hold:
            self.conn = conn  # the agent's other requests wait for it
        try:
            if origin.scheme == "https" and d.identities is not None:
                ctx = self.ctx
                if ctx is None:
                    ident = d.identities.identity(self.index, self.hostname)
                    ctx = self.ctx = agent_ssl_context(d.insecure, d.ca_file, ident.cert_pem,
                                                       ident.key_pem)
            conn, blocked, connecting, tls = await origin.open(
                conn, t0, deadline, ssl_context=ctx, local_host=d.source_for(self.index))
        except AcquireFailed as f:
            conn.abort()
            reason = connect_error_reason(f.error, f.detail)
            d.connect_failed(reason)
            return Response(method=prep.method, url=prep.url, error=f.error,
                            error_detail=f.detail,
                            timings=Timings(blocked=f.blocked + (t0 - started),
                                            connecting=f.connecting, tls_handshaking=f.tls,
                                            started=started, finished=_perf()))
        except ValueError as exc:  # an identity that does not load
            conn.abort()
            d.connect_failed(str(exc))
            return Response(method=prep.method, url=prep.url, error=ErrorClass.TLS_ERROR,
                            error_detail=str(exc),
                            timings=Timings(started=started, finished=_perf()))
        except BaseException:
            conn.abort()
            raise
        d.opened(conn, connecting, tls, origin.scheme == "https")
        conn.slow = True
        conn.blocked = blocked + (t0 - started)
        conn.connecting = connecting
        conn.tls = tls
        conn.t_send = _perf()
        return conn

    def close(self) -> None:
        conn = self.conn
        if conn is not None:
            conn.abort()

    def close_idle(self) -> None:
        """Close the connection unless a request is on it (the fleet is stopping:
        that request ends on its own or is cancelled, never failed by us)."""
        conn = self.conn
        if conn is not None and conn.fut is None:
            conn.abort()


__all__ = ["MODES", "AgentLink", "Dialer", "agent_ssl_context", "connect_error_reason"]
