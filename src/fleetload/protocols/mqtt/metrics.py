"""MQTT device-fleet metrics: declared kinds (so thresholds and the summary
know them), the per-worker recorder, and the live-line / summary formatting.

Status keys (summed over workers; ``max_`` keys: largest wins):
``mqtt_connected`` (connections up now), ``mqtt_conn_ok`` / ``mqtt_conn_refused`` /
``mqtt_conn_error`` (connect attempts by outcome), ``mqtt_conn_resumed`` (accepted
with CONNACK "session present"), ``mqtt_pub_sent``,
``mqtt_pub_acked`` (PUBACK / PUBCOMP received), ``mqtt_pub_lost`` (QoS 1/2
publishes still unacknowledged when their connection dropped),
``mqtt_pub_unacked_end`` (still unacknowledged when the run closed them), ``mqtt_rx``
(messages received), ``mqtt_cmd_sent`` / ``mqtt_cmd_answered`` / ``mqtt_cmd_timeout``,
``mqtt_disconnects``, ``max_mqtt_ack_p95_ms`` / ``max_mqtt_cmd_p95_ms`` (p95 of
the last second), ``mqtt_refused:<reason>``, ``mqtt_disc:<reason>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetload.metrics.collector import Collector
from fleetload.metrics.custom import Counter, Gauge, Trend
from fleetload.metrics.kinds import Tags, make_tags

CONNECTS = "mqtt_connects"
CONNECT_TIME = "mqtt_connect_time"
PUBLISHES = "mqtt_publishes"
PUBLISH_ACKED = "mqtt_publish_acked"
PUBLISH_ACK_LATENCY = "mqtt_publish_ack_latency"
COMMAND_RTT = "mqtt_command_rtt"
COMMANDS = "mqtt_commands"
COMMAND_REPLIES = "mqtt_command_replies"
COMMAND_TIMEOUTS = "mqtt_command_timeouts"
DISCONNECTS = "mqtt_disconnects"
MESSAGES_RECEIVED = "mqtt_messages_received"
CONNECTED = "mqtt_connected"

REFUSED_PREFIX = "mqtt_refused:"
DISC_PREFIX = "mqtt_disc:"
MAX_REASONS = 20


KINDS: tuple[tuple[str, str, str], ...] = (
    ("counter", CONNECTS, "connect attempts, tag outcome (ok, refused, error) and reason"),
    ("trend", CONNECT_TIME, "TCP (+TLS) connect to CONNACK"),
    ("counter", PUBLISHES, "telemetry PUBLISH packets sent"),
    ("counter", PUBLISH_ACKED, "QoS 1/2 publishes acknowledged (PUBACK / PUBCOMP)"),
    ("trend", PUBLISH_ACK_LATENCY, "PUBLISH sent to PUBACK (QoS 1) / PUBCOMP (QoS 2)"),
    ("trend", COMMAND_RTT, "command published to the device's reply received"),
    ("counter", COMMANDS, "commands published to devices"),
    ("counter", COMMAND_REPLIES, "command replies received"),
    ("counter", COMMAND_TIMEOUTS, "commands without a reply within --command-timeout"),
    ("counter", DISCONNECTS, "connections lost, tag reason"),
    ("counter", MESSAGES_RECEIVED, "messages delivered to devices"),
    ("gauge", CONNECTED, "device connections up"),
)
"""(kind, name, description) of every MQTT metric."""
_CLASSES = {"counter": Counter, "trend": Trend, "gauge": Gauge}


def declare() -> None:
    """Declare the MQTT metrics' kinds for the script being loaded (so
    thresholds and the summary know them; the loader resets declarations for
    every script)."""
    for kind, name, description in KINDS:
        _CLASSES[kind](name, description=description)


class MqttStats:
    """One worker's recorder for one MQTT fleet."""

    __slots__ = ("_c", "_keys", "_reasons", "_tags", "ack_latency", "ack_window", "cmd_rtt",
                 "cmd_window", "connect_time", "status")

    def __init__(self, collector: Collector, tags: Tags, status: dict[str, float]) -> None:
        """``collector``, ``tags`` and ``status`` of the scenario's runtime."""
        c = collector
        self._c = c
        self._tags = tags
        self.connect_time = c.trend((CONNECT_TIME, tags))
        self.ack_latency = c.trend((PUBLISH_ACK_LATENCY, tags))
        self.cmd_rtt = c.trend((COMMAND_RTT, tags))
        self.ack_window: list[float] = []
        self.cmd_window: list[float] = []
        self._keys: dict[str, tuple[str, Tags]] = {}
        self._reasons = 0
        self.status = status
        for key in ("mqtt_connected", "mqtt_conn_ok", "mqtt_conn_resumed", "mqtt_conn_refused",
                    "mqtt_conn_error",
                    "mqtt_pub_sent", "mqtt_pub_acked", "mqtt_pub_lost", "mqtt_pub_unacked_end", "mqtt_rx",
                    "mqtt_cmd_sent", "mqtt_cmd_answered", "mqtt_cmd_timeout", "mqtt_disconnects",
                    "max_mqtt_ack_p95_ms", "max_mqtt_cmd_p95_ms"):
            self.status.setdefault(key, 0.0)

    def _key(self, metric: str, **extra: str) -> tuple[str, Tags]:
        cache = metric + "|" + "|".join(f"{k}={v}" for k, v in extra.items())
        key = self._keys.get(cache)
        if key is None:
            key = self._keys[cache] = (metric, make_tags({**dict(self._tags), **extra}))
        return key

    def _count(self, metric: str, status_key: str, n: float = 1.0, **extra: str) -> None:
        self.status[status_key] += n
        self._c.add_counter(self._key(metric, **extra), n)

    def _reason(self, prefix: str, reason: str) -> None:
        st = self.status
        key = prefix + reason[:120]
        if key in st:
            st[key] += 1
        elif self._reasons < MAX_REASONS:
            self._reasons += 1
            st[key] = 1.0
        else:
            st[prefix + "(others)"] = st.get(prefix + "(others)", 0.0) + 1

    # -- events ----------------------------------------------------------------------------
    def connected(self, seconds: float, resumed: bool) -> None:
        self._count(CONNECTS, "mqtt_conn_ok", outcome="ok")
        if resumed:
            self.status["mqtt_conn_resumed"] += 1
        self.status["mqtt_connected"] += 1
        self.connect_time.append(seconds)

    def refused(self, reason: str) -> None:
        self._count(CONNECTS, "mqtt_conn_refused", outcome="refused", reason=reason)
        self._reason(REFUSED_PREFIX, reason)

    def connect_error(self) -> None:
        self._count(CONNECTS, "mqtt_conn_error", outcome="error")

    def lost(self, reason: str, unacked: int) -> None:
        self.status["mqtt_connected"] -= 1
        self._count(DISCONNECTS, "mqtt_disconnects", reason=_reason_tag(reason))
        self._reason(DISC_PREFIX, reason)
        if unacked:
            self.status["mqtt_pub_lost"] += unacked

    def closed(self, unacked: int = 0) -> None:
        self.status["mqtt_connected"] -= 1
        if unacked:
            self.status["mqtt_pub_unacked_end"] += unacked

    def published(self) -> None:
        self._count(PUBLISHES, "mqtt_pub_sent")

    def acked(self, latency: float) -> None:
        self._count(PUBLISH_ACKED, "mqtt_pub_acked")
        self.ack_latency.append(latency)
        self.ack_window.append(latency)

    def received(self) -> None:
        self._count(MESSAGES_RECEIVED, "mqtt_rx")

    def command_sent(self) -> None:
        self._count(COMMANDS, "mqtt_cmd_sent")

    def command_answered(self, rtt: float) -> None:
        self._count(COMMAND_REPLIES, "mqtt_cmd_answered")
        self.cmd_rtt.append(rtt)
        self.cmd_window.append(rtt)

    def command_timed_out(self, n: int) -> None:
        self._count(COMMAND_TIMEOUTS, "mqtt_cmd_timeout", float(n))

    def every_second(self) -> None:
        for window, key in ((self.ack_window, "max_mqtt_ack_p95_ms"),
                            (self.cmd_window, "max_mqtt_cmd_p95_ms")):
            if window:
                window.sort()
                self.status[key] = 1000.0 * window[min(len(window) - 1, int(len(window) * 0.95))]
                window.clear()
        self._c.set_gauge((CONNECTED, self._tags), self.status["mqtt_connected"])


def _reason_tag(reason: str) -> str:
    """A short, low-cardinality tag value for a disconnect reason."""
    return reason.split(":", 1)[0][:40]


# -- formatting (parent process) ---------------------------------------------------------------
def format_status(status: Mapping[str, float]) -> str:
    g = status.get

    def ms(key: str) -> str:
        v = g(key)
        return f"{v:,.0f}ms" if v else "-"

    return (f"connected: {g('mqtt_connected', 0):,.0f} / {g('agents', 0):,.0f} | "
            f"connects: {g('mqtt_conn_ok', 0):,.0f} ok {g('mqtt_conn_refused', 0):,.0f} refused "
            f"{g('mqtt_conn_error', 0):,.0f} failed | pub: {g('mqtt_pub_sent', 0):,.0f} sent "
            f"{g('mqtt_pub_acked', 0):,.0f} acked (p95 {ms('max_mqtt_ack_p95_ms')}) | "
            f"cmd: {g('mqtt_cmd_sent', 0):,.0f} sent {g('mqtt_cmd_answered', 0):,.0f} answered "
            f"(p95 {ms('max_mqtt_cmd_p95_ms')}) | rx: {g('mqtt_rx', 0):,.0f} | "
            f"drops: {g('mqtt_disconnects', 0):,.0f} | errors: {g('errors', 0):,.0f}")


def _pct(v: dict[str, float] | None) -> dict[str, float] | None:
    if not v or not v.get("count"):
        return None
    return {"p50": v["med"], "p90": v["p(90)"], "p95": v["p(95)"], "p99": v["p(99)"],
            "p99.9": v["p(99.9)"], "avg": v["avg"], "max": v["max"], "count": v["count"]}


def summary_section(status: Mapping[str, float], view: Any) -> dict[str, Any]:
    g = status.get

    def trend(name: str) -> dict[str, float] | None:
        return _pct(view.values(name, {}, percentiles=(99.9,)))

    def reasons(prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: int(v) for k, v in status.items() if k.startswith(prefix)}

    return {
        "connected": int(g("mqtt_connected", 0)),
        "connects": {"ok": int(g("mqtt_conn_ok", 0)), "resumed": int(g("mqtt_conn_resumed", 0)),
                     "refused": int(g("mqtt_conn_refused", 0)),
                     "failed": int(g("mqtt_conn_error", 0)), "refused_by_reason": reasons(REFUSED_PREFIX)},
        "connect_time": trend(CONNECT_TIME),
        "publishes": {"sent": int(g("mqtt_pub_sent", 0)), "acked": int(g("mqtt_pub_acked", 0)),
                      "lost_unacked": int(g("mqtt_pub_lost", 0)),
                      "unacked_at_end": int(g("mqtt_pub_unacked_end", 0))},
        "publish_ack_latency": trend(PUBLISH_ACK_LATENCY),
        "commands": {"sent": int(g("mqtt_cmd_sent", 0)), "answered": int(g("mqtt_cmd_answered", 0)),
                     "timed_out": int(g("mqtt_cmd_timeout", 0))},
        "command_rtt": trend(COMMAND_RTT),
        "disconnects": {"total": int(g("mqtt_disconnects", 0)), "by_reason": reasons(DISC_PREFIX)},
        "messages_received": int(g("mqtt_rx", 0)),
    }


def summary_lines(m: Mapping[str, Any]) -> list[str]:
    def ms(v: Mapping[str, float] | None) -> str:
        if not v:
            return "none"
        return " ".join(f"{k}={v[k]:.1f}ms" for k in ("p50", "p95", "p99", "max"))

    conn, pub, cmd, disc = m["connects"], m["publishes"], m["commands"], m["disconnects"]
    refused = ", ".join(f"{k} {v:,}" for k, v in sorted(conn["refused_by_reason"].items()))
    lines = [f"mqtt connects {conn['ok']:,} ok ({conn['resumed']:,} resumed a session) / "
             f"{conn['refused']:,} refused"
             + (f" ({refused})" if refused else "") + f" / {conn['failed']:,} failed; "
             f"connect time {ms(m['connect_time'])}",
             f"mqtt publishes {pub['sent']:,} sent, {pub['acked']:,} acked, "
             f"{pub['lost_unacked']:,} unacked at a drop, {pub['unacked_at_end']:,} at the end; "
             f"ack latency {ms(m['publish_ack_latency'])}",
             f"mqtt commands {cmd['sent']:,} sent, {cmd['answered']:,} answered, "
             f"{cmd['timed_out']:,} timed out; "
             f"round trip {ms(m['command_rtt'])}",
             f"mqtt messages received {m['messages_received']:,}; disconnects {disc['total']:,}"
             + "".join(f"; {k} {v:,}" for k, v in sorted(disc["by_reason"].items()))]
    return lines
