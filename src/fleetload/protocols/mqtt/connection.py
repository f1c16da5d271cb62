"""One MQTT client connection as an ``asyncio.Protocol``.

The connection writes and reads packets with :mod:`.codec` and tells its
:class:`Handler` what happened: a message arrived, a publish was acknowledged
(PUBACK for QoS 1, PUBCOMP for QoS 2, with the latency from the send), the
connection went away (with the reason in words). Keep-alive is one timer per
connection that sends PINGREQ only when nothing else was sent for a whole
keep-alive, so a device publishing more often than that never pings.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, Protocol, cast

from fleetload.protocols.mqtt import codec as c


class Refused(Exception):
    """The broker answered CONNECT with a failure code."""

    def __init__(self, code: int, version: int) -> None:
        self.code = code
        self.reason = c.reason_text(code, version)
        super().__init__(f"connection refused: {self.reason}")


class Handler(Protocol):
    def on_message(self, topic: bytes, payload: bytes) -> None: ...

    def on_acked(self, latency: float) -> None: ...

    def on_lost(self, reason: str, unacked: int) -> None: ...


class MqttConnection(asyncio.Protocol):
    """A client connection; create it with :func:`open_connection`."""

    __slots__ = ("_connect", "_inflight", "_next_pid", "_ping_sent", "_reader", "_timer",
                 "closing", "handler", "keepalive", "last_sent", "reason", "transport",
                 "up", "version", "waiter")

    def __init__(self, handler: Handler, connect_packet: bytes, version: int, keepalive: int,
                 waiter: asyncio.Future[Any]) -> None:
        self.handler = handler
        self.version = version
        self.keepalive = keepalive
        self.waiter: asyncio.Future[Any] | None = waiter
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.up = False  # the broker accepted the CONNECT
        self.reason = ""
        self.last_sent = 0.0
        self._connect = connect_packet
        self._reader = c.Reader()
        self._inflight: dict[int, float] | None = None
        self._next_pid = 0
        self._ping_sent = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._send(self._connect)
        self._connect = b""

    def data_received(self, data: bytes) -> None:
        try:
            for ptype, flags, body in self._reader.feed(data):
                self._packet(ptype, flags, body)
        except (c.MalformedPacket, IndexError, ValueError) as exc:
            self.drop(f"malformed packet from the broker: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        reason = self.reason or (f"connection lost: {exc}" if exc else "closed by the broker")
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            # A refused client certificate (TLS 1.3) shows once the handshake is done.
            waiter.set_exception(exc if isinstance(exc, ssl.SSLError) else ConnectionError(reason))
        self.waiter = None
        if not self.closing:
            self.closing = True
            if self.up:
                self.handler.on_lost(reason, self.unacked())

    # -- reading ---------------------------------------------------------------------------
    def _packet(self, ptype: int, flags: int, body: bytes) -> None:
        if ptype == c.PUBLISH:
            topic, qos, pid, payload = c.parse_publish(flags, body, self.version)
            if qos == 1:
                self._send(c.ack(c.PUBACK, pid))
            elif qos == 2:
                self._send(c.ack(c.PUBREC, pid))
            self.handler.on_message(topic, payload)
        elif ptype == c.PUBACK or ptype == c.PUBCOMP:
            pid = c.parse_ack(body)[0]
            t0 = self._inflight.pop(pid, None) if self._inflight else None
            if t0:
                self.handler.on_acked(time.perf_counter() - t0)
        elif ptype == c.PUBREC:
            self._send(c.ack(c.PUBREL, c.parse_ack(body)[0]))
        elif ptype == c.PUBREL:
            self._send(c.ack(c.PUBCOMP, c.parse_ack(body)[0]))
        elif ptype == c.PINGRESP:
            self._ping_sent = 0.0
        elif ptype == c.CONNACK:
            self._resolve(c.parse_connack(body))
        elif ptype == c.SUBACK:
            self._resolve(c.parse_suback(body, self.version)[1])
        elif ptype == c.DISCONNECT:
            code = c.parse_disconnect(body)
            self.drop(f"disconnected by the broker: {c.reason_text(code, 5)}")
        else:
            raise c.MalformedPacket(f"unexpected packet type {ptype}")

    def _resolve(self, value: Any) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    # -- writing ---------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
            self.last_sent = time.monotonic()

    def unacked(self) -> int:
        """Tracked publishes still waiting for their PUBACK / PUBCOMP."""
        inflight = self._inflight
        return sum(1 for t in inflight.values() if t) if inflight else 0

    def packet_id(self) -> int:
        self._next_pid = self._next_pid % 65535 + 1
        return self._next_pid

    def publish(self, topic: bytes, payload: bytes, qos: int, *, track: bool = True) -> int:
        """Send a PUBLISH; returns its size in bytes. Tracked QoS 1 and 2
        publishes are timed until PUBACK / PUBCOMP (``Handler.on_acked``) and
        counted as unacknowledged when the connection drops first."""
        pid = 0
        if qos:
            pid = self.packet_id()
            if self._inflight is None:
                self._inflight = {}
            self._inflight[pid] = time.perf_counter() if track else 0.0
        data = c.publish(topic, payload, qos, pid, self.version)
        self._send(data)
        return len(data)

    async def subscribe(self, topics: list[tuple[str, int]], timeout: float) -> list[int]:
        """SUBSCRIBE and wait for the SUBACK's granted QoS / failure codes."""
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        self._send(c.subscribe(self.packet_id(), topics, self.version))
        async with asyncio.timeout(timeout):
            codes: list[int] = await waiter
        return codes

    def start_keepalive(self, first: float) -> None:
        if self.keepalive and self.transport is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(first, self._keepalive)

    def _keepalive(self) -> None:
        """Ping only after a whole keep-alive without sending anything (the
        broker allows 1.5 of them), so a device publishing at least that often
        never pings; no PINGRESP a keep-alive after the PINGREQ drops the
        connection."""
        now = time.monotonic()
        ka = self.keepalive
        if self._ping_sent and now - self._ping_sent > ka:
            self.drop("keep-alive timeout: no PINGRESP from the broker")
            return
        idle = now - self.last_sent
        if idle >= 0.95 * ka:  # timers may fire a little early
            self._send(c.PINGREQ_BYTES)
            if not self._ping_sent:
                self._ping_sent = now
            delay = float(ka)
        else:
            delay = ka - idle
        self._timer = asyncio.get_running_loop().call_later(delay, self._keepalive)

    def drop(self, reason: str) -> None:
        """Close from our side because something went wrong (reported as lost)."""
        if not self.reason:
            self.reason = reason
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """A clean DISCONNECT (not reported as lost)."""
        self.closing = True
        self._send(c.DISCONNECT_BYTES)
        if self.transport is not None:
            self.transport.close()


async def open_connection(handler: Handler, host: str, port: int, options: c.ConnectOptions,
                          *, tls: ssl.SSLContext | None, timeout: float) -> tuple[MqttConnection, bool]:
    """Connect and wait for CONNACK: (connection, session present). Raises
    :class:`Refused` on a failure code, ``TimeoutError`` or ``OSError``."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[tuple[bool, int]] = loop.create_future()
    conn = MqttConnection(handler, c.connect(options), options.version, options.keepalive, waiter)

    try:
        async with asyncio.timeout(timeout):  # no extra task per connect (wait_for makes one)
            await loop.create_connection(lambda: conn, host, port, ssl=tls,
                                         server_hostname=host if tls else None)
            present, code = await waiter
    except BaseException:
        conn.closing = True
        if conn.transport is not None:
            conn.transport.abort()
        raise
    if code:
        conn.closing = True
        if conn.transport is not None:
            conn.transport.abort()
        raise Refused(code, options.version)
    if conn.closing:  # closed right after a good CONNACK
        raise ConnectionError(conn.reason or "closed by the broker after CONNACK")
    conn.up = True
    return conn, present
