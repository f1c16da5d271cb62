"""One HTTP/1.1 connection: an ``asyncio.Protocol`` fed to ``httptools``.

This is the hot path of the load generator. Everything here is written for
CPython speed: ``__slots__``, no per-request closures, one ``Future`` per
request, a single ``time.perf_counter()`` call per ``data_received`` (it gives
the first-byte time, the last-byte time and the read-progress time at once),
no timer per request (deadlines are checked by the client's sweeper every
~100 ms; requests with sub-second timeouts arm a precise timer instead).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httptools

from fleetload.protocols.http.errors import ErrorClass, classify
from fleetload.protocols.http.prepared import PoolLike, Prepared
from fleetload.protocols.http.response import Received, Response, parse_head

_perf = time.perf_counter
_HttpParserError = httptools.HttpParserError
_HttpParserUpgrade = httptools.HttpParserUpgrade
_ResponseParser = httptools.HttpResponseParser
_InvalidStateError = asyncio.InvalidStateError

#: Timeouts at or above this use the ~100 ms sweeper; shorter ones a precise timer.
PRECISE_TIMEOUT_BELOW = 1.0


class _HeadReader:
    """Parser callbacks for a HEAD response: the response ends with its headers
    (httptools cannot be told that a Content-Length is not followed by a body)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def on_headers_complete(self) -> None:
        conn = self.conn
        status = conn.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            conn.hmulti = True
            return
        conn.hdone = True
        if conn.fut is not None:
            keep = conn.parser.should_keep_alive()
            conn.parser = _ResponseParser(conn)  # the HEAD parser expects a body: drop it
            conn.on_message_complete(status, False, keep)


_HEAD_END = b"\r\n\r\n"
_HEAD_LIMIT = 1 << 20


class Connection(asyncio.Protocol):
    """A keep-alive connection owned by a :class:`Pool`. At most one request in
    flight (no pipelining).

    Per request the hot path stores only what changes; ``slow`` marks a request
    that came through the pool's slow path (so ``blocked``/``connecting``/``tls``
    and ``t_send`` are meaningful), otherwise those are 0 and ``t_send`` is
    ``started``. Response headers are not parsed on the hot path: the bytes up to
    the end of the header block (``hbuf``) go to the Response, which parses
    them when a script looks at them.
    """

    __slots__ = (
        "blocked", "body", "closed", "connecting", "create_future", "deadline", "fut", "hbuf",
        "hdone", "hmulti", "keep", "loop", "parser", "pool", "precise", "prep", "read_to",
        "reused", "rx", "slow", "started", "t_first", "t_last", "t_send", "t_sent", "timer",
        "tls", "transport", "wpaused",
    )

    def __init__(self, pool: PoolLike) -> None:
        self.pool = pool
        self.loop: asyncio.AbstractEventLoop = pool.loop
        self.create_future = self.loop.create_future
        self.keep: bool = pool.keep_alive
        self.read_to: float = pool.read_timeout
        self.precise = self.read_to < PRECISE_TIMEOUT_BELOW
        self.transport: Any = None
        self.parser = _ResponseParser(self)
        self.closed = False
        self.reused = False
        self.wpaused = False
        self.slow = False
        self.fut: asyncio.Future[Response] | None = None
        self.prep: Prepared | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.hbuf = b""  # received bytes until the header block is complete
        self.hdone = False  # hbuf holds the whole header block
        self.hmulti = False  # a 1xx interim response came first
        self.body: bytes | bytearray = b""
        self.rx = 0
        self.started = self.t_send = self.t_sent = self.t_first = self.t_last = 0.0
        self.blocked = self.connecting = self.tls = 0.0
        self.deadline = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        try:
            # pause_writing() then tells us a large request is still being written
            transport.set_write_buffer_limits(high=0)
        except Exception:
            pass

    def pause_writing(self) -> None:
        self.wpaused = True

    def resume_writing(self) -> None:
        if self.wpaused:
            self.wpaused = False
            if self.fut is not None and self.rx == 0:
                # the request is fully written only now
                self.t_sent = self.t_last = _perf()

    def data_received(self, data: bytes) -> None:
        t = _perf()
        if self.fut is None:
            # bytes while idle: a protocol violation (or a 408 before closing)
            self.abort()
            return
        if self.rx:
            if not self.hdone:
                hbuf = self.hbuf
                if (_HEAD_END in hbuf and not self.hmulti) or len(hbuf) > _HEAD_LIMIT:
                    self.hdone = True
                else:
                    self.hbuf = hbuf + data
        else:
            self.t_first = t
            self.hbuf = data
        self.t_last = t
        self.rx += len(data)
        try:
            self.parser.feed_data(data)
        except _HttpParserUpgrade:
            if self.fut is not None:
                self.on_message_complete(self.parser.get_status_code())
            self.abort()
        except _HttpParserError as exc:
            err, detail = classify(exc)
            self.fail(err, detail)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost() follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.discard(self)
        if self.fut is None:
            return
        if exc is None:
            if self.rx == 0:
                self.fail(ErrorClass.CONNECTION_CLOSED,
                          "server closed the connection without sending a response")
            elif self._reads_to_eof():
                self.on_message_complete(self.parser.get_status_code(), True)
            else:
                self.fail(ErrorClass.CONNECTION_RESET,
                          "server closed the connection mid-response")
        else:
            err, detail = classify(exc)
            self.fail(err, detail)

    # -- httptools callbacks ---------------------------------------------------------
    def on_body(self, chunk: bytes) -> None:
        b = self.body
        if not b:
            self.body = chunk
        elif type(b) is bytearray:
            b += chunk
        else:
            ba = bytearray(b)
            ba += chunk
            self.body = ba

    def on_message_complete(self, status: int = -1, eof: bool = False,
                            keep: bool | None = None) -> None:
        """The response is complete (parser callback; also called for HEAD, EOF-
        delimited bodies and upgrades): resolve the future, return the connection
        to the pool or close it."""
        fut = self.fut
        if fut is None:
            self.abort()  # a response nobody asked for
            return
        if status < 0:
            status = self.parser.get_status_code()
            if status < 200 and status != 101:  # interim 1xx: wait for the final response
                self.body = b""
                self.hmulti = True
                return
        self.fut = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        prep: Prepared = self.prep  # type: ignore[assignment]
        b = self.body
        if self.slow:
            self.slow = False
            t = (self.started, self.t_send, self.t_sent, self.t_first, self.t_last,
                 self.blocked, self.connecting, self.tls, prep.nbytes, self.rx)
        else:
            started = self.started
            t = (started, started, self.t_sent, self.t_first, self.t_last, 0.0, 0.0, 0.0,
                 prep.nbytes, self.rx)
        r = Received(status, self.hbuf, b if type(b) is bytes else bytes(b), prep.method,
                     prep.url, None, None, t)
        self.hbuf = self.body = b""
        if self.hdone:
            self.hdone = False
        if self.hmulti:
            self.hmulti = False
        if eof:
            pass
        elif self.keep and status != 101 and (
                self.parser.should_keep_alive() if keep is None else keep):
            self.reused = True
            pool = self.pool
            if pool.waiters:
                pool.release(self)
            else:
                pool.idle[self] = None
        else:
            self.abort()
        try:
            fut.set_result(r)
        except _InvalidStateError:  # the request was cancelled meanwhile
            self.abort()

    # -- request lifecycle -----------------------------------------------------------
    def send(self, prep: Prepared, started: float, deadline: float) -> asyncio.Future[Response]:
        """Write the request; the returned future gets the Response (never an
        exception). The slow path sets ``slow``, ``t_send``, ``blocked``,
        ``connecting`` and ``tls`` before calling this."""
        fut = self.fut = self.create_future()
        self.prep = prep
        self.started = started
        self.deadline = deadline
        self.rx = 0
        if prep.head:
            self.parser = _ResponseParser(_HeadReader(self))
        try:
            self.transport.write(prep.data)
            if prep.body is not None:
                self.transport.write(prep.body)
        except Exception as exc:
            err, detail = classify(exc)
            if isinstance(exc, RuntimeError | AttributeError):
                err, detail = ErrorClass.CONNECTION_CLOSED, "connection closed before sending"
            self.t_sent = self.t_last = _perf()
            self.fail(err, detail)
            return fut
        t = self.t_sent = self.t_last = _perf()
        if self.closed:
            # connection_lost already ran (handed to us just before it died)
            self.fail(ErrorClass.CONNECTION_CLOSED, "connection closed before sending")
        elif self.precise or deadline - t < PRECISE_TIMEOUT_BELOW:
            self._arm(min(t + self.read_to, deadline))
        return fut

    def fail(self, error: str, detail: str) -> None:
        """End the in-flight request with an error and drop the connection."""
        fut = self.fut
        self.fut = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.abort()
        if fut is None or fut.done():
            self.slow = False
            return
        prep = self.prep
        assert prep is not None
        now = _perf()
        if self.slow:
            self.slow = False
            blocked, connecting, tls, t_send = self.blocked, self.connecting, self.tls, self.t_send
        else:
            blocked = connecting = tls = 0.0
            t_send = self.started
        sending = max(0.0, self.t_sent - t_send)
        if self.rx:
            waiting = self.t_first - self.t_sent
            receiving = now - self.t_first
        else:
            waiting = max(0.0, now - self.t_sent)
            receiving = 0.0
        complete, status, _, _ = parse_head(self.hbuf)
        t_sent = t_send + sending
        t_first = t_sent + waiting
        r = Received(status if complete else 0, self.hbuf if complete else b"", b"",
                     prep.method, prep.url, error, detail,
                     (self.started, t_send, t_sent, t_first, t_first + receiving, blocked,
                      connecting, tls, prep.nbytes, self.rx))
        self.hbuf = self.body = b""
        self.hdone = self.hmulti = False
        fut.set_result(r)

    def abort(self) -> None:
        """Close the socket now and leave the pool (idempotent)."""
        if not self.closed:
            self.closed = True
            self.pool.discard(self)
        tr = self.transport
        if tr is not None:
            try:
                tr.abort()
            except Exception:
                pass

    def cancel(self) -> None:
        """The awaiting request was cancelled: the connection state is unknown."""
        self.fut = None
        self.slow = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.abort()

    # -- deadlines -------------------------------------------------------------------
    def check_deadline(self, now: float) -> float:
        """Fail the in-flight request if a deadline passed; else return the next
        deadline (0.0 when idle)."""
        if self.fut is None:
            return 0.0
        if now >= self.deadline:
            self.fail(ErrorClass.TIMEOUT, "request exceeded its total timeout")
            return 0.0
        read_deadline = self.t_last + self.read_to
        if now >= read_deadline and not self.wpaused:
            if self.rx:
                self.fail(ErrorClass.READ_TIMEOUT,
                          f"no data for {self.read_to:g}s while reading the response")
            else:
                self.fail(ErrorClass.READ_TIMEOUT,
                          f"no response within {self.read_to:g}s of sending the request")
            return 0.0
        return min(read_deadline, self.deadline)

    def _arm(self, when: float) -> None:
        self.timer = self.loop.call_later(max(0.0, when - _perf()), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        nxt = self.check_deadline(_perf())
        if nxt:
            self._arm(nxt)

    def _reads_to_eof(self) -> bool:
        """True when the response has neither Content-Length nor chunked encoding,
        so its body legitimately ends at EOF."""
        complete, _, _, pairs = parse_head(self.hbuf)
        if not complete:
            return False
        for name, value in pairs:
            lname = name.lower()
            if lname == b"content-length":
                return False
            if lname == b"transfer-encoding" and b"chunked" in value.lower():
                return False
        return True


__all__ = ["PRECISE_TIMEOUT_BELOW", "Connection", "Prepared"]
