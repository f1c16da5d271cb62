"""Keep-alive connection pool of one origin (scheme, host, port)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import sys
import time
from collections import deque
from typing import Any

from fleetload.protocols.http.connection import PRECISE_TIMEOUT_BELOW, Connection
from fleetload.protocols.http.errors import ErrorClass, classify, tls_detail

_perf = time.perf_counter

#: How long resolved addresses of a host name are reused for new connections.
DNS_CACHE_SECONDS = 10.0

#: New connections being opened at once per keep-alive origin. A request that
#: finds no idle connection while this many are being opened waits for
#: whichever comes first, a released connection or a finished connect. Without
#: it a burst of arrivals at the start of an open-loop run opens one connection
#: per arrival (a thousand where a dozen serve the rate), and the connect storm
#: stalls the event loop for hundreds of milliseconds. The wait is ``blocked``
#: time, so it is inside both http_req_blocked and the corrected latency.
MAX_CONNECTING = 32


class _Timeout:
    """Sentinel a blocked waiter receives when its deadline passed."""


class _Closed:
    """Sentinel a blocked waiter receives when the client is closed."""


class _Default:
    """Sentinel: the pool's own TLS context."""


TIMED_OUT = _Timeout()
CLOSED = _Closed()
DEFAULT = _Default()
#: Linux: a socket bound to an address takes its port at connect time, so one
#: source address serves the whole ephemeral range towards each destination.
_BIND_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24 if sys.platform == "linux" else None)


async def _connect_from(loop: asyncio.AbstractEventLoop, family: int, local_host: str,
                        sockaddr: tuple[Any, ...]) -> socket.socket:
    """A TCP socket bound to ``local_host`` and connected to ``sockaddr``."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if _BIND_NO_PORT is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, _BIND_NO_PORT, 1)
        sock.bind((local_host, 0))
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _time_out_waiter(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_result(TIMED_OUT)


class AcquireFailed(Exception):
    """Getting a connection failed; carries what the failure Response needs."""

    def __init__(self, error: str, detail: str, *, blocked: float = 0.0,
                 connecting: float = 0.0, tls: float = 0.0) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.blocked = blocked
        self.connecting = connecting
        self.tls = tls


class Pool:
    """LIFO idle connections of one origin plus the waiters for a free slot.

    ``conns`` holds every open or connecting connection (it is what
    ``max_connections`` limits); ``idle`` is a dict used as an ordered set, so
    ``popitem()`` gives the most recently released connection and a connection
    that dies while idle is removed in O(1).
    """

    __slots__ = (
        "addrs",
        "addrs_expiry",
        "connect_timeout",
        "connecting",
        "conns",
        "host",
        "idle",
        "keep_alive",
        "loop",
        "max",
        "max_connecting",
        "port",
        "read_timeout",
        "reserved",
        "scheme",
        "server_hostname",
        "ssl",
        "waiters",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, scheme: str, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None, max_connections: int | None,
                 keep_alive: bool, connect_timeout: float, read_timeout: float) -> None:
        self.loop = loop
        self.scheme = scheme
        self.host = host
        self.port = port
        self.ssl = ssl_context
        self.server_hostname = host
        self.max = max_connections
        self.keep_alive = keep_alive
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.conns: set[Connection] = set()
        self.idle: dict[Connection, None] = {}
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.reserved = 0  # slots promised to woken waiters that will connect
        self.connecting = 0  # connects in progress
        # Connection-per-request pools need every connect they ask for.
        self.max_connecting = MAX_CONNECTING if keep_alive else None
        self.addrs: list[tuple[int, tuple[Any, ...]]] | None = None
        self.addrs_expiry = 0.0
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            fam = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            self.addrs = [(fam, (host, port))]
            self.addrs_expiry = float("inf")

    # -- hot path helpers (called from Connection callbacks) -------------------------
    def release(self, conn: Connection) -> None:
        """A connection finished a response and may be reused."""
        waiters = self.waiters
        while waiters:
            fut, _ = waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return
        self.idle[conn] = None

    def discard(self, conn: Connection) -> None:
        """A connection is closed: forget it and give its slot to a waiter."""
        self.idle.pop(conn, None)
        if conn in self.conns:
            self.conns.remove(conn)
            self._wake_to_connect()

    def _wake_to_connect(self) -> None:
        """Let waiters open connections while the limits allow: each woken
        waiter holds a reserved slot until it starts connecting."""
        waiters = self.waiters
        while waiters and self.can_connect():
            fut, _ = waiters.popleft()
            if not fut.done():
                self.reserved += 1
                fut.set_result(None)

    # -- slow path ---------------------------------------------------------------------
    def can_connect(self) -> bool:
        if self.max is not None and len(self.conns) + self.reserved >= self.max:
            return False
        cap = self.max_connecting
        return cap is None or self.connecting + self.reserved < cap

    async def acquire(self, deadline: float, *,
                      fresh: bool = False) -> tuple[Connection, float, float, float]:
        """An idle or new connection: ``(conn, blocked, connecting, tls)``. Raises
        :class:`AcquireFailed`; never returns a closed connection knowingly.
        ``fresh`` skips the idle list (retry after a stale keep-alive connection);
        a connection handed over by a finishing request is still accepted."""
        t0 = _perf()
        while True:
            idle = self.idle
            while idle and not fresh:
                conn = idle.popitem()[0]
                if not conn.closed:
                    return conn, _perf() - t0, 0.0, 0.0
            if self.can_connect():
                break
            fut: asyncio.Future[Any] = self.loop.create_future()
            self.waiters.append((fut, deadline))
            timer = None
            left = deadline - _perf()
            if left < PRECISE_TIMEOUT_BELOW:
                timer = self.loop.call_later(max(0.0, left), _time_out_waiter, fut)
            try:
                got = await fut
            except asyncio.CancelledError:
                if timer is not None:
                    timer.cancel()
                if fut.done() and not fut.cancelled():
                    got = fut.result()
                    if isinstance(got, Connection):
                        if not got.closed:
                            self.release(got)
                    elif got is None:
                        self.reserved -= 1
                        self._wake_to_connect()
                raise
            if timer is not None:
                timer.cancel()
            if got is None:  # a slot was freed and reserved for us
                self.reserved -= 1
                if idle and not fresh:
                    # a connection came back meanwhile: take it, pass the slot on
                    conn = idle.popitem()[0]
                    if not conn.closed:
                        self._wake_to_connect()
                        return conn, _perf() - t0, 0.0, 0.0
                break
            if got is TIMED_OUT:
                why = ("max_connections_per_origin reached"
                       if self.max is not None and len(self.conns) >= self.max
                       else f"{self.connecting} connections being opened")
                raise AcquireFailed(ErrorClass.TIMEOUT,
                                    f"request timed out waiting for a free connection ({why})",
                                    blocked=_perf() - t0)
            if got is CLOSED:
                raise AcquireFailed(ErrorClass.OTHER, "client closed", blocked=_perf() - t0)
            if not got.closed:
                return got, _perf() - t0, 0.0, 0.0
        conn = Connection(self)
        self.conns.add(conn)
        self.connecting += 1
        try:
            return await self._connect(conn, t0, deadline)
        except BaseException:
            conn.abort()
            raise
        finally:
            self.connecting -= 1
            self._wake_to_connect()

    async def _resolve(self, deadline: float) -> list[tuple[int, tuple[Any, ...]]]:
        now = _perf()
        addrs = self.addrs
        if addrs is not None and now < self.addrs_expiry:
            return addrs
        infos = await self.loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM,
                                            proto=socket.IPPROTO_TCP)
        addrs = [(fam, sockaddr) for fam, _, _, _, sockaddr in infos]
        if not addrs:
            raise socket.gaierror(socket.EAI_NONAME, "no addresses")
        self.addrs = addrs
        self.addrs_expiry = _perf() + DNS_CACHE_SECONDS
        return addrs

    async def _connect(self, conn: Connection, t0: float,
                       deadline: float) -> tuple[Connection, float, float, float]:
        return await self.open(conn, t0, deadline)

    async def open(self, conn: Connection, t0: float, deadline: float, *,
                   ssl_context: ssl.SSLContext | _Default | None = DEFAULT,
                   local_host: str | None = None) -> tuple[Connection, float, float, float]:
        """Connect ``conn`` to this origin: resolve, TCP connect
        (from ``local_host`` when given), TLS handshake with ``ssl_context``
        (default: the pool's). Returns ``(conn, blocked, connecting, tls)``;
        raises :class:`AcquireFailed`. Used by the pool and by connections held
        outside it (one per fleet agent)."""
        ctx = self.ssl if isinstance(ssl_context, _Default) else ssl_context
        loop = self.loop
        now = _perf()
        budget = min(self.connect_timeout, deadline - now)
        total_bound = deadline - now <= self.connect_timeout
        end = now + budget
        phase = "resolving"
        t_conn = t_tls = now
        try:
            if budget <= 0:
                raise TimeoutError
            async with asyncio.timeout(budget):
                addrs = await self._resolve(deadline)
                t_conn = _perf()
                phase = "connecting"
                last_exc: BaseException | None = None
                for fam, sockaddr in addrs:
                    try:
                        if local_host is None:
                            await loop.create_connection(lambda: conn, sockaddr[0], sockaddr[1],
                                                         family=fam)
                        else:
                            sock = await _connect_from(loop, fam, local_host, sockaddr)
                            await loop.create_connection(lambda: conn, sock=sock)
                        last_exc = None
                        break
                    except OSError as exc:
                        last_exc = exc
                if last_exc is not None:
                    raise last_exc
                t_tls = _perf()
                if ctx is not None:
                    phase = "tls"
                    tr = await loop.start_tls(conn.transport, conn, ctx,
                                              server_hostname=self.server_hostname,
                                              ssl_handshake_timeout=max(0.001, end - _perf()))
                    if tr is None:
                        raise ConnectionResetError("connection closed during TLS handshake")
                    conn.transport = tr
                    if conn.closed:
                        raise ConnectionResetError("connection closed during TLS handshake")
        except TimeoutError:
            now = _perf()
            blocked, connecting, tls = self._phases(t0, t_conn, t_tls, now, phase)
            if total_bound:
                raise AcquireFailed(ErrorClass.TIMEOUT, f"request timed out while {phase}",
                                    blocked=blocked, connecting=connecting, tls=tls) from None
            what = {"resolving": "name resolution", "connecting": "TCP connect",
                    "tls": "TLS handshake"}[phase]
            raise AcquireFailed(ErrorClass.CONNECT_TIMEOUT,
                                f"{what} timed out after {self.connect_timeout:g}s",
                                blocked=blocked, connecting=connecting, tls=tls) from None
        except (OSError, ssl.SSLError, ValueError, RuntimeError) as exc:
            now = _perf()
            blocked, connecting, tls = self._phases(t0, t_conn, t_tls, now, phase)
            if phase == "tls":
                if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                    err, detail = ErrorClass.TLS_ERROR, tls_detail(exc)
                else:
                    err, detail = classify(exc, connecting=True)
                    if err == ErrorClass.OTHER:
                        err, detail = ErrorClass.TLS_ERROR, tls_detail(exc)
            else:
                err, detail = classify(exc, connecting=True)
            raise AcquireFailed(err, detail, blocked=blocked, connecting=connecting,
                                tls=tls) from None
        t_done = _perf()
        return conn, t_conn - t0, t_tls - t_conn, (t_done - t_tls) if ctx else 0.0

    @staticmethod
    def _phases(t0: float, t_conn: float, t_tls: float, now: float,
                phase: str) -> tuple[float, float, float]:
        if phase == "resolving":
            return now - t0, 0.0, 0.0
        if phase == "connecting":
            return t_conn - t0, now - t_conn, 0.0
        return t_conn - t0, t_tls - t_conn, now - t_tls

    # -- sweeping / closing ----------------------------------------------------------
    def sweep(self, now: float) -> None:
        """Fail requests and waiters whose deadline passed (called every ~100 ms)."""
        for conn in [c for c in self.conns if c.fut is not None]:
            conn.check_deadline(now)
        if self.waiters:
            for fut, deadline in self.waiters:
                if now >= deadline and not fut.done():
                    fut.set_result(TIMED_OUT)
            if any(f.done() for f, _ in self.waiters):
                self.waiters = deque(w for w in self.waiters if not w[0].done())

    def close(self) -> None:
        for fut, _ in self.waiters:
            if not fut.done():
                fut.set_result(CLOSED)
        self.waiters.clear()
        for conn in list(self.conns):
            if conn.fut is not None:
                conn.fail(ErrorClass.OTHER, "client closed")
            else:
                conn.abort()
        self.conns.clear()
        self.idle.clear()

    @property
    def busy(self) -> bool:
        return bool(self.conns) or bool(self.waiters)


__all__ = ["DEFAULT", "AcquireFailed", "Pool"]
