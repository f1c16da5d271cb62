"""MQTT devices: each agent is one device holding one MQTT connection.

A device connects with client id ``<prefix>-<run-id>-<n>`` (its hostname),
subscribes to ``<topic-prefix>/<client-id>/cmd`` and answers every command on
``<topic-prefix>/<client-id>/reply``; its heartbeat tick publishes telemetry
to ``<topic-prefix>/<client-id>/telemetry`` (``--publish-interval`` ± jitter,
``--payload-bytes``, ``--qos``). A dropped connection reconnects with the
fleet's backoff. There is no registration step: the CONNECT/CONNACK is the
handshake, counted by outcome (refusals by CONNACK reason).

The fleet's generic numbers keep their meaning: ``hb_sent`` counts telemetry
publishes, the heartbeat round trip is the PUBACK/PUBCOMP latency (QoS 1/2),
tick lateness is how late publishes leave against their schedule. The MQTT
numbers (:mod:`fleetload.protocols.mqtt.metrics`) come on top, shown by
:class:`MqttFleet` in the live line and the summary.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from fleetload.engine.executors.base import register
from fleetload.errors import ConfigError
from fleetload.fleet import identity
from fleetload.fleet import metrics as fm
from fleetload.fleet.agent import Agent, Disconnected, FleetLike
from fleetload.fleet.config import Fleet
from fleetload.protocols.mqtt import metrics as mm
from fleetload.protocols.mqtt.commander import Commander
from fleetload.protocols.mqtt.connection import MqttConnection, Refused, open_connection
from fleetload.protocols.mqtt.settings import MqttSettings, settings_from

_SHARED = "mqtt"
declare_metrics = mm.declare


class MqttShared:
    """What one worker's devices share: settings, TLS context, payload, stats."""

    __slots__ = ("commander", "payload", "settings", "stats", "ticker", "tls")

    def __init__(self, settings: MqttSettings, stats: mm.MqttStats) -> None:
        self.settings = settings
        self.stats = stats
        self.tls = settings.ssl_context()
        # Printable (hex digits), shared by every publish of the worker.
        self.payload = os.urandom(settings.payload_bytes // 2 + 1).hex()[:settings.payload_bytes].encode()
        self.commander: Commander | None = None
        self.ticker: asyncio.TimerHandle | None = None


def _shared(fleet: FleetLike) -> MqttShared:
    sh: MqttShared = fleet.shared[_SHARED]
    return sh


class MqttAgent(Agent):
    """A device on an MQTT broker (MQTT 3.1.1 or 5)."""

    __slots__ = ("conn", "mq", "own_tls")
    transport: ClassVar[str] = "mqtt"
    uses_stream: ClassVar[bool] = True

    def __init__(self, fleet: FleetLike, index: int) -> None:
        super().__init__(fleet, index)
        self.conn: MqttConnection | None = None
        self.mq = _shared(fleet)
        self.own_tls: ssl.SSLContext | None = None
        """With client identities: this device's context, presenting its certificate."""

    def _tls(self) -> ssl.SSLContext | None:
        identities = self.fleet.ex.identities
        if identities is None:
            return self.mq.tls
        if self.own_tls is None:
            who = identities.identity(self.index, self.hostname)
            self.own_tls = self.mq.settings.device_ssl_context(who.cert_pem, who.key_pem)
        return self.own_tls

    async def register(self) -> str:
        """MQTT has no registration: the broker accepts or refuses the CONNECT."""
        return "active"

    async def open(self) -> None:
        mq = self.mq
        s = mq.settings
        ep = s.endpoints[self.index % len(s.endpoints)]
        t0 = time.perf_counter()
        try:
            conn, present = await open_connection(self, ep.host, ep.port,
                                                  s.connect_options(self.hostname),
                                                  tls=self._tls() if ep.tls else None,
                                                  timeout=s.connect_timeout)
        except Refused as exc:
            mq.stats.refused(exc.reason)
            raise
        except ssl.SSLCertVerificationError:
            mq.stats.connect_error()  # the broker's certificate, not a refusal
            raise
        except ssl.SSLError as exc:
            mq.stats.refused(f"tls: {exc.reason or exc}")
            raise
        except Exception:
            mq.stats.connect_error()
            raise
        mq.stats.connected(time.perf_counter() - t0, present)
        self.conn = conn  # before SUBSCRIBE: a resumed session may deliver queued commands
        try:
            if not present:  # a resumed persistent session keeps its subscription
                codes = await conn.subscribe([(s.topic(self.hostname, "cmd").decode(),
                                               s.command_qos)], timeout=s.connect_timeout)
                if not codes or codes[0] >= 0x80:
                    raise ConnectionError(f"command subscription refused (code {codes[:1]})")
        except BaseException:
            self.conn = None
            if not conn.closing:  # else the drop was already counted (on_lost)
                conn.closing = True
                mq.stats.closed()
                conn.drop("subscribe failed")
            raise
        if s.keepalive:
            conn.start_keepalive(s.keepalive * (0.5 + 0.5 * self.fleet.rng.random()))

    async def heartbeat(self) -> None:
        """One telemetry publish."""
        conn = self.conn
        if conn is None or conn.closing:
            raise Disconnected("not connected")
        mq = self.mq
        s = mq.settings
        n = conn.publish(s.topic(self.hostname, "telemetry"), mq.payload, s.qos)
        stats = self.fleet.stats
        stats.heartbeat_sent(n)
        mq.stats.published()
        if not s.qos:
            stats.heartbeat_result(True)

    # -- connection events (Handler) ---------------------------------------------------------
    def on_message(self, topic: bytes, payload: bytes) -> None:
        mq = self.mq
        mq.stats.received()
        conn = self.conn
        if topic.endswith(b"/cmd") and conn is not None:
            s = mq.settings
            self.fleet.stats.sent(conn.publish(s.topic(self.hostname, "reply"), payload,
                                               s.command_qos, track=False))
            self.fleet.stats.push("command")

    def on_acked(self, latency: float) -> None:
        self.mq.stats.acked(latency)
        self.fleet.stats.heartbeat_result(True, latency)

    def on_lost(self, reason: str, unacked: int) -> None:
        self.mq.stats.lost(reason, unacked)
        for _ in range(unacked):
            self.fleet.stats.heartbeat_result(False)
        self.conn = None
        self.disconnected(reason)

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and not conn.closing:
            unacked = conn.unacked()
            conn.close()
            self.mq.stats.closed(unacked)

    # -- fleet-wide hooks ------------------------------------------------------------------------
    @staticmethod
    async def setup_fleet(fleet: FleetLike) -> None:
        settings = settings_from(fleet.options)
        declare_metrics()
        rt = fleet.rt
        mq = MqttShared(settings, mm.MqttStats(rt.collector, rt.tags, rt.status))
        fleet.shared[_SHARED] = mq
        probe_id = f"{fleet.hostname_prefix}-{fleet.run_id}-probe-{fleet.lo}"
        if fleet.ex.preflight:
            tls = mq.tls
            if fleet.ex.identities is not None and mq.tls is not None:
                who = fleet.ex.identities.identity(
                    fleet.lo, identity.hostname(fleet.hostname_prefix, fleet.run_id, fleet.lo))
                tls = settings.device_ssl_context(who.cert_pem, who.key_pem)
            await _probe(settings, probe_id, tls)
        loop = asyncio.get_running_loop()

        def tick() -> None:
            mq.stats.every_second()
            mq.ticker = loop.call_later(1.0, tick)

        mq.ticker = loop.call_later(1.0, tick)
        share = settings.command_rate * (fleet.hi - fleet.lo) / fleet.ex.agents
        if share > 0:
            def device_id(i: int) -> str:
                return identity.hostname(fleet.hostname_prefix, fleet.run_id, i)

            mq.commander = Commander(
                settings, mq.stats, f"{fleet.hostname_prefix}-{fleet.run_id}-commander-{fleet.lo}",
                device_id, fleet.lo, fleet.hi, share, fleet.rng)
            fleet.spawn(mq.commander.run(fleet.stats.error), background=True)

    @staticmethod
    async def teardown_fleet(fleet: FleetLike) -> None:
        mq = fleet.shared.get(_SHARED)
        if not isinstance(mq, MqttShared):
            return
        if mq.ticker is not None:
            mq.ticker.cancel()
        if mq.commander is not None:
            mq.commander.close()
        mq.stats.every_second()
        await asyncio.sleep(0)  # let the DISCONNECTs reach the sockets

    @staticmethod
    def sockets_needed(fleet: FleetLike) -> int:
        return fleet.hi - fleet.lo + 16


class _Probe:
    def on_message(self, topic: bytes, payload: bytes) -> None:
        pass

    def on_acked(self, latency: float) -> None:
        pass

    def on_lost(self, reason: str, unacked: int) -> None:
        pass


async def _probe(s: MqttSettings, client_id: str, tls: ssl.SSLContext | None) -> None:
    """Connect once to each broker address before the fleet starts: an
    unreachable broker or refused credentials stop the run with one line
    instead of N reconnecting devices."""
    for ep in s.endpoints:
        try:
            conn, _ = await open_connection(_Probe(), ep.host, ep.port,
                                            s.connect_options(client_id),
                                            tls=tls if ep.tls else None,
                                            timeout=s.connect_timeout)
        except Refused as exc:
            hint = "; check --username/--password" if exc.code in (4, 5, 0x86, 0x87) else ""
            raise ConfigError(f"mqtt-fleet: the broker at {ep.url} refused the connection: "
                              f"{exc.reason}{hint}") from None
        except (OSError, TimeoutError) as exc:
            text = str(exc) or type(exc).__name__
            raise ConfigError(f"mqtt-fleet: cannot connect to the broker at {ep.url}: "
                              f"{text}") from None
        conn.close()


@register
@dataclass(frozen=True)
class MqttFleet(Fleet):
    """The fleet executor with the MQTT live line and summary section
    (``agent`` defaults to :class:`MqttAgent`; ``options_extra`` holds the
    MQTT settings, see :func:`fleetload.protocols.mqtt.settings.settings_from`)."""

    kind = "mqtt-fleet"

    agent: type[Agent] = MqttAgent

    def __post_init__(self) -> None:
        declare_metrics()
        super().__post_init__()

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.options_extra.get("broker"):  # without it: found at the start
            try:
                settings = settings_from(self.options_extra)
            except ConfigError as exc:
                problems.append(str(exc))
            else:
                if self.identities is not None and not all(e.tls for e in settings.endpoints):
                    problems.append("client identities (--identities, --mint-identities) need "
                                    "mqtts:// broker addresses")
        return problems

    def options(self) -> dict[str, Any]:
        out = super().options()
        extra = dict(out.get("options_extra") or {})
        if extra.get("password"):
            extra["password"] = True  # never the secret itself
        out["options_extra"] = extra
        return out

    def describe(self) -> str:
        if not self.options_extra.get("broker"):
            return super().describe()
        s = settings_from(self.options_extra)
        brokers = ", ".join(e.url for e in s.endpoints)
        return (super().describe() + f"; broker {brokers}, MQTT {'5' if s.version == 5 else '3.1.1'}, "
                f"QoS {s.qos}, {s.payload_bytes} B payloads"
                + (f", {s.command_rate:g} commands/s" if s.command_rate else ""))

    def format_status(self, status: Mapping[str, float]) -> str | None:
        return mm.format_status(status) + fm.mint_status(status)

    def summary_extra(self, status: Mapping[str, float], view: Any) -> dict[str, Any] | None:
        section = fm.summary_section(status, view, {}, self.agent.transport)
        mqtt = mm.summary_section(status, view)
        text = fm.summary_lines(section) + mm.summary_lines(mqtt)
        return {"fleet": section, "mqtt": mqtt, "text": text}
