"""Fleet metrics: declared kinds (so thresholds and the summary know them), the
per-worker recorder, and the live-line / summary formatting.

Recording goes straight into the worker's collector (a list append or a dict
add per event) and into ``rt.status`` (numbers merged over workers and shown
live). Status keys:

``agents`` started, ``regs_active`` / ``regs_pending`` / ``regs_failed`` (current
registration states), ``streams_open``, ``hb_sent``, ``hb_failed``,
``reconnects``, ``errors``, ``push_<kind>`` (pushes handled), ``bytes_sent``,
``max_rtt_p95_ms`` (heartbeat round trip p95 of the last second, largest over
workers), ``max_reg_in_flight`` (largest number of registrations in flight),
``ramp_pending`` (agents not yet through the registration ramp: connected,
pending or rejected), ``max_ramp_done_s`` (seconds from the start to the end of
the ramp, the latest worker; 0 while ``ramp_pending``), ``err:<text>`` (distinct
errors with counts, at most ``MAX_ERRORS`` per worker).

Tick lateness is recorded with a ``phase`` tag: ``ramp`` for ticks due before
the worker's ramp ended + one heartbeat interval, ``steady`` after. The
untagged metric (``fleet_tick_lateness``) is the union of both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetload.engine.runtime import ScenarioRuntime
from fleetload.metrics.custom import Counter, Gauge, Rate, Trend
from fleetload.metrics.kinds import Tags, make_tags

HEARTBEAT_RTT = "fleet_heartbeat_rtt"
TICK_LATENESS = "fleet_tick_lateness"
TASK_DURATION = "fleet_task_duration"
TERMINAL_SESSION = "fleet_terminal_session"
TLS_HANDSHAKE = "fleet_tls_handshake"
REGISTRATION_DURATION = "fleet_registration_duration"
HEARTBEATS = "fleet_heartbeats"
HEARTBEAT_FAILED = "fleet_heartbeat_failed"
RECONNECTS = "fleet_reconnects"
PUSHES = "fleet_pushes"
REGISTRATIONS = "fleet_registrations"
BYTES_SENT = "fleet_bytes_sent"
AGENTS = "fleet_agents"
STREAMS = "fleet_streams"
CONNECT_DURATION = "fleet_connect_duration"
CONNECTIONS_OPEN = "fleet_connections_open"
CONNECTIONS_OPENED = "fleet_connections_opened"
CONNECT_ERRORS = "fleet_connect_errors"
CONNECT_ERR_PREFIX = "cerr:"
IDENTITY_MINT = "fleet_identity_mint"
IDENTITIES_MINTED = "fleet_identities_minted"

MAX_ERRORS = 20
ERR_PREFIX = "err:"


def declare() -> None:
    """Declare the fleet metrics' kinds for the script being loaded. Called by the
    ``Fleet`` executor's constructor and by the pack, at import of the script
    (the loader resets declarations for every script)."""
    Trend(HEARTBEAT_RTT, description="heartbeat sent to ack/response received")
    Trend(TICK_LATENESS, description="how late heartbeat ticks fire against their schedule")
    Trend(TASK_DURATION, description="push received to final result sent")
    Trend(TERMINAL_SESSION, description="terminal push received to the session closed by the server")
    Trend(TLS_HANDSHAKE, description="TCP connect and TLS handshake of an agent's connection")
    Trend(REGISTRATION_DURATION, description="one registration call")
    Counter(HEARTBEATS, description="heartbeats sent")
    Rate(HEARTBEAT_FAILED, description="share of heartbeats that failed (no ack, error, timeout)")
    Counter(RECONNECTS, description="successful reconnects after a dropped stream or refused connection")
    Counter(PUSHES, description="server pushes handled, tag kind")
    Counter(REGISTRATIONS, description="registration outcomes, tag outcome")
    Counter(BYTES_SENT, description="protocol bytes sent by agents")
    Gauge(AGENTS, description="agents with an active registration")
    Gauge(STREAMS, description="streams open")
    Trend(CONNECT_DURATION, description="TCP connect of an agent's own connection")
    Gauge(CONNECTIONS_OPEN, description="agents' own connections open (--connections per-agent/per-beat)")
    Counter(CONNECTIONS_OPENED, description="agents' own connections opened")
    Counter(CONNECT_ERRORS, description="agents' failed connects, tag reason")
    Trend(IDENTITY_MINT, description="minting one agent's client key and certificate")
    Counter(IDENTITIES_MINTED, description="client identities minted (--mint-identities)")


class FleetStats:
    """One worker's recorder for one fleet scenario."""

    __slots__ = ("_c", "_counter_keys", "_errors", "_rates", "_tags", "bytes_window",
                 "lateness_ramp", "lateness_steady", "reg_duration", "rtt", "rtt_window",
                 "status", "task_duration", "terminal_session", "tls_handshake")

    def __init__(self, rt: ScenarioRuntime) -> None:
        c = rt.collector
        self._c = c
        self._tags: Tags = rt.tags
        tags = rt.tags
        self.rtt = c.trend((HEARTBEAT_RTT, tags))
        self.lateness_ramp = c.trend((TICK_LATENESS, make_tags({**dict(tags), "phase": "ramp"})))
        self.lateness_steady = c.trend((TICK_LATENESS,
                                        make_tags({**dict(tags), "phase": "steady"})))
        self.task_duration = c.trend((TASK_DURATION, tags))
        self.terminal_session = c.trend((TERMINAL_SESSION, tags))
        self.tls_handshake = c.trend((TLS_HANDSHAKE, tags))
        self.reg_duration = c.trend((REGISTRATION_DURATION, tags))
        self.rtt_window: list[float] = []
        self.bytes_window = 0
        self._counter_keys: dict[str, tuple[str, Tags]] = {}
        self._rates = (HEARTBEAT_FAILED, tags)
        self._errors = 0
        self.status = rt.status
        for key in ("agents", "regs_active", "regs_pending", "regs_failed", "streams_open",
                    "hb_sent", "hb_failed", "reconnects", "errors", "bytes_sent",
                    "max_rtt_p95_ms", "max_reg_in_flight", "ramp_pending", "max_ramp_done_s"):
            self.status.setdefault(key, 0.0)

    def _key(self, metric: str, tag: str | None = None, value: str | None = None) -> tuple[str, Tags]:
        cache = f"{metric}|{value}"
        key = self._counter_keys.get(cache)
        if key is None:
            tags = dict(self._tags)
            if tag is not None and value is not None:
                tags[tag] = value
            key = self._counter_keys[cache] = (metric, make_tags(tags))
        return key

    # -- events ----------------------------------------------------------------------
    def bump(self, key: str, n: float = 1.0) -> None:
        st = self.status
        st[key] = st.get(key, 0.0) + n

    def heartbeat_sent(self, nbytes: int) -> None:
        self.status["hb_sent"] += 1
        self._c.add_counter(self._key(HEARTBEATS), 1.0)
        self.sent(nbytes)

    def heartbeat_result(self, ok: bool, rtt: float | None = None) -> None:
        """``ok`` False counts a failed heartbeat; ``rtt`` in seconds."""
        self._c.add_rate(self._rates, not ok)
        if not ok:
            self.status["hb_failed"] += 1
        elif rtt is not None:
            self.rtt.append(rtt)
            self.rtt_window.append(rtt)

    def sent(self, nbytes: int) -> None:
        if nbytes:
            self.status["bytes_sent"] += nbytes
            self._c.add_counter(self._key(BYTES_SENT), float(nbytes))

    def registration(self, outcome: str, seconds: float | None = None) -> None:
        self._c.add_counter(self._key(REGISTRATIONS, "outcome", outcome), 1.0)
        if seconds is not None:
            self.reg_duration.append(seconds)

    def push(self, kind: str) -> None:
        self.bump("push_" + kind)
        self._c.add_counter(self._key(PUSHES, "kind", kind), 1.0)

    def reconnect(self) -> None:
        self.status["reconnects"] += 1
        self._c.add_counter(self._key(RECONNECTS), 1.0)

    def error(self, text: str) -> None:
        st = self.status
        st["errors"] += 1
        key = ERR_PREFIX + text[:160]
        if key in st:
            st[key] += 1
        elif self._errors < MAX_ERRORS:
            self._errors += 1
            st[key] = 1.0
        else:
            self.bump(ERR_PREFIX + "(further distinct errors not listed)")

    def every_second(self) -> None:
        """Roll the live window: p95 of the last second's round trips, gauges."""
        window = self.rtt_window
        if window:
            window.sort()
            p95 = window[min(len(window) - 1, int(len(window) * 0.95))]
            self.status["max_rtt_p95_ms"] = p95 * 1000.0
            window.clear()
        st = self.status
        self._c.set_gauge((AGENTS, self._tags), st["regs_active"])
        self._c.set_gauge((STREAMS, self._tags), st["streams_open"])
        if "conns_open" in st:
            self._c.set_gauge((CONNECTIONS_OPEN, self._tags), st["conns_open"])


# -- formatting (parent process) ---------------------------------------------------------
def format_status(status: Mapping[str, float], transport: str) -> str:
    g = status.get
    streams = f"{g('streams_open', 0):,.0f}" if transport != "http" else "-"
    if "conns_opened" in status:
        cerr = sum(v for k, v in status.items() if k.startswith(CONNECT_ERR_PREFIX))
        streams = (f"- | conns: {g('conns_open', 0):,.0f} open, {g('conns_opened', 0):,.0f} "
                   f"opened, {cerr:,.0f} failed")
    p95 = g("max_rtt_p95_ms")
    rtt = f"{p95:,.0f}ms" if p95 else "-"
    return (f"regs: {g('regs_active', 0):,.0f} active / {g('regs_pending', 0):,.0f} pend / "
            f"{g('regs_failed', 0):,.0f} fail | streams: {streams} | "
            f"hb: {g('hb_sent', 0):,.0f} sent ({g('hb_failed', 0):,.0f} failed) | "
            f"rtt p95: {rtt} | errors: {g('errors', 0):,.0f}{mint_status(status)}")


def mint_status(status: Mapping[str, float]) -> str:
    """`` | minted 1,234 identities, 0.8 ms each`` during the ramp, when minting."""
    minted = status.get("identities_minted", 0)
    if not minted or not status.get("ramp_pending", 0):
        return ""
    return f" | minted {minted:,.0f} identities, {1000 * status.get('identity_mint_s', 0) / minted:.1f} ms each"


def summary_section(status: Mapping[str, float], view: Any, tags: Mapping[str, str],
                    transport: str) -> dict[str, Any]:
    g = status.get
    rtt = view.values(HEARTBEAT_RTT, dict(tags), percentiles=(99.9,))
    late = view.values(TICK_LATENESS, dict(tags), percentiles=(99.9,))
    late_ramp = view.values(TICK_LATENESS, {**tags, "phase": "ramp"}, percentiles=(99.9,))
    late_steady = view.values(TICK_LATENESS, {**tags, "phase": "steady"}, percentiles=(99.9,))
    task = view.values(TASK_DURATION, dict(tags), percentiles=(99.9,))
    terminal = view.values(TERMINAL_SESSION, dict(tags), percentiles=(99.9,))
    handshake = view.values(TLS_HANDSHAKE, dict(tags), percentiles=(99.9,))
    mint = view.values(IDENTITY_MINT, dict(tags), percentiles=(99.9,))

    def pct(v: dict[str, float] | None) -> dict[str, float] | None:
        if not v or not v.get("count"):
            return None
        return {"p50": v["med"], "p90": v["p(90)"], "p95": v["p(95)"], "p99": v["p(99)"],
                "p99.9": v["p(99.9)"], "avg": v["avg"], "max": v["max"], "count": v["count"]}

    errors = sorted(((k[len(ERR_PREFIX):], int(v)) for k, v in status.items()
                     if k.startswith(ERR_PREFIX)), key=lambda kv: -kv[1])[:MAX_ERRORS]
    pushes = {k[len("push_"):]: int(v) for k, v in status.items() if k.startswith("push_")}
    return {
        "transport": transport,
        "agents": int(g("agents", 0)),
        "registrations": {"active": int(g("regs_active", 0)), "pending": int(g("regs_pending", 0)),
                          "failed": int(g("regs_failed", 0))},
        "streams_open": int(g("streams_open", 0)) if transport != "http" else None,
        "heartbeats": {"sent": int(g("hb_sent", 0)), "failed": int(g("hb_failed", 0))},
        "heartbeat_rtt": pct(rtt),
        "tick_lateness": pct(late),
        "tick_lateness_ramp": pct(late_ramp),
        "tick_lateness_steady": pct(late_steady),
        "ramp_done_s": g("max_ramp_done_s") if not g("ramp_pending", 0) else None,
        "ramp_pending": int(g("ramp_pending", 0)),
        "task_duration": pct(task),
        "terminal_session": pct(terminal),
        "tls_handshake": pct(handshake),
        "identity_mint": pct(mint),
        "identities_minted": int(g("identities_minted", 0)),
        "reconnects": int(g("reconnects", 0)),
        "pushes": pushes,
        "bytes_sent": int(g("bytes_sent", 0)),
        "max_registrations_in_flight": int(g("max_reg_in_flight", 0)),
        "errors": [{"error": text, "count": n} for text, n in errors],
        "connections": _connections(status, view, tags),
    }


def _connections(status: Mapping[str, float], view: Any,
                 tags: Mapping[str, str]) -> dict[str, Any] | None:
    """Agents' own connections (``--connections per-agent/per-beat``), else None."""
    if "conns_opened" not in status:
        return None
    errors = {k[len(CONNECT_ERR_PREFIX):]: int(v) for k, v in status.items()
              if k.startswith(CONNECT_ERR_PREFIX)}
    hs = view.values(TLS_HANDSHAKE, dict(tags))
    ct = view.values(CONNECT_DURATION, dict(tags))
    ms = {"p50": "med", "p95": "p(95)", "p99": "p(99)", "max": "max"}
    return {"open": int(status.get("conns_open", 0)), "opened": int(status["conns_opened"]),
            "connect_errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
            "connect_ms": {k: ct[v] for k, v in ms.items()} if ct and ct.get("count") else None,
            "tls_handshake_ms": ({k: hs[v] for k, v in ms.items()} | {"count": hs["count"]}
                                 if hs and hs.get("count") else None)}


def summary_lines(section: Mapping[str, Any]) -> list[str]:
    """The fleet section as text-summary lines."""
    regs = section["registrations"]
    hb = section["heartbeats"]
    rtt = section["heartbeat_rtt"] or {}
    lines = [f"agents {section['agents']:,} ({section['transport']}): registrations "
             f"{regs['active']:,} active / {regs['pending']:,} pending / {regs['failed']:,} failed",
             f"heartbeats {hb['sent']:,} sent, {hb['failed']:,} failed; rtt "
             + " ".join(f"{k}={rtt[k]:.1f}ms" for k in ("p50", "p90", "p95", "p99", "p99.9")
                        if k in rtt)]
    lines.append(_lateness_line(section))
    if section.get("streams_open") is not None:
        lines.append(f"streams open {section['streams_open']:,}; reconnects {section['reconnects']:,}")
    conns = section.get("connections")
    if conns:
        errs = ", ".join(f"{k} {v:,}" for k, v in conns["connect_errors"].items()) or "none"
        hs = conns["tls_handshake_ms"]
        lines.append(f"connections {conns['open']:,} open, {conns['opened']:,} opened; connect "
                     f"errors: {errs}" + (f"; tls handshake p50={hs['p50']:.1f}ms "
                                         f"p99={hs['p99']:.1f}ms" if hs else ""))
    if section["pushes"]:
        lines.append("pushes handled: " + ", ".join(f"{k} {v:,}" for k, v in
                                                    sorted(section["pushes"].items())))
    for key, label in (("terminal_session", "terminal session"), ("tls_handshake", "tls handshake"),
                       ("identity_mint", "identity minting")):
        if section.get(key) and not (key == "tls_handshake" and conns):  # shown with them
            lines.append(f"{label} " + " ".join(f"{k}={section[key][k]:.1f}ms"
                                                for k in ("p50", "p95", "p99", "max")))
    lines += [f"error {e['count']:,} x {e['error']}" for e in section["errors"]]
    return lines


def _lateness_line(section: Mapping[str, Any]) -> str:
    """Tick lateness, steady state first (the generator keeping the schedule)."""
    def ms(v: Mapping[str, float] | None, keys: tuple[str, ...]) -> str:
        if not v:
            return "none"
        return " ".join(f"{k}={v[k]:.1f}ms" for k in keys if k in v)

    steady = section.get("tick_lateness_steady")
    ramp = section.get("tick_lateness_ramp")
    done = section.get("ramp_done_s")
    if done is None:
        when = f"ramp not completed: {section.get('ramp_pending', 0):,} agents pending"
    else:
        when = f"ramp done at {done:.0f}s"
    return (f"tick lateness steady {ms(steady, ('p50', 'p99', 'max'))} "
            f"({(steady or {}).get('count', 0):,.0f} ticks); ramp {ms(ramp, ('p99', 'max'))} "
            f"({when})")
