"""The command stream: one MQTT connection per worker that publishes commands
to a random sample of the worker's devices at a steady rate and times each
device's reply (the command round trip).

Commands go to ``<topic-prefix>/<client-id>/cmd`` with a unique id as payload;
devices echo it to ``<topic-prefix>/<client-id>/reply``, which the commander
reads through one wildcard subscription. A command without a reply after
``--command-timeout`` is counted as timed out (its device may be offline).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from fleetload.protocols.mqtt.connection import MqttConnection, open_connection
from fleetload.protocols.mqtt.metrics import MqttStats
from fleetload.protocols.mqtt.settings import MqttSettings


class Commander:
    """Publishes ``rate`` commands/s to devices ``[lo, hi)`` and times the replies."""

    def __init__(self, settings: MqttSettings, stats: MqttStats, client_id: str,
                 device_id: Callable[[int], str], lo: int, hi: int, rate: float,
                 rng: random.Random) -> None:
        self.settings = settings
        self.stats = stats
        self.client_id = client_id
        self.device_id = device_id
        self.lo, self.hi = lo, hi
        self.rate = rate
        self.rng = rng
        self.conn: MqttConnection | None = None
        self.pending: dict[bytes, float] = {}
        self.seq = 0
        self.last_error = ""

    # -- Handler ----------------------------------------------------------------------------
    def on_message(self, topic: bytes, payload: bytes) -> None:
        t0 = self.pending.pop(payload, None)
        if t0 is not None:
            self.stats.command_answered(time.perf_counter() - t0)

    def on_acked(self, latency: float) -> None:
        pass

    def on_lost(self, reason: str, unacked: int) -> None:
        self.conn = None
        self.last_error = reason

    # -- the stream -------------------------------------------------------------------------
    async def connect(self) -> None:
        s = self.settings
        conn, _ = await open_connection(self, s.host, s.port, s.connect_options(self.client_id),
                                        tls=s.ssl_context() if s.tls else None,
                                        timeout=s.connect_timeout)
        try:
            codes = await conn.subscribe([(f"{s.topic_prefix}/+/reply", s.command_qos)],
                                         timeout=s.connect_timeout)
        except BaseException:
            conn.closing = True
            conn.drop("subscribe failed")
            raise
        if not codes or codes[0] >= 0x80:
            conn.close()
            raise ConnectionError(f"command reply subscription refused (code {codes[:1]})")
        conn.start_keepalive(s.keepalive)
        self.conn = conn

    def send(self) -> None:
        conn = self.conn
        if conn is None or conn.closing:
            return
        s = self.settings
        self.seq += 1
        cid = f"{self.client_id}:{self.seq}".encode()
        device = self.device_id(self.rng.randrange(self.lo, self.hi))
        conn.publish(s.topic(device, "cmd"), cid, s.command_qos, track=False)
        self.pending[cid] = time.perf_counter()
        self.stats.command_sent()

    def expire(self) -> None:
        """Count the commands whose reply is overdue."""
        limit = time.perf_counter() - self.settings.command_timeout
        overdue = [k for k, t0 in self.pending.items() if t0 < limit]
        for k in overdue:
            del self.pending[k]
        if overdue:
            self.stats.command_timed_out(len(overdue))

    async def run(self, on_error: Callable[[str], None]) -> None:
        """Until cancelled: commands at ``rate``/s (open loop), reconnecting
        after a second when the connection drops."""
        start = time.perf_counter()
        sent = 0
        next_sweep = start + 1.0
        while True:
            if self.conn is None or self.conn.closing:
                if self.last_error:
                    on_error(f"command stream: {self.last_error}")
                    self.last_error = ""
                try:
                    await self.connect()
                except (OSError, TimeoutError, ConnectionError) as exc:
                    on_error(f"command stream: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(1.0)
                    continue
                # Commands missed while reconnecting are not sent late in a burst.
                start, sent = time.perf_counter(), 0
            now = time.perf_counter()
            due = int((now - start) * self.rate) + 1
            while sent < due:
                self.send()
                sent += 1
            if now >= next_sweep:
                self.expire()
                next_sweep = now + 1.0
            await asyncio.sleep(max(0.001, start + (sent + 1) / self.rate - time.perf_counter()))

    def close(self) -> None:
        self.expire()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
