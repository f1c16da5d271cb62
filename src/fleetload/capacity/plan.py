"""Fleet sizing: a fleet description → offered load per endpoint, and with a
measured ceiling, how large a fleet the target supports at that cadence.

Every number comes with the arithmetic that produced it, because a capacity
plan nobody can check is a guess.

* heartbeats/s = agents / heartbeat interval (each agent reports once per interval);
* work polls/s = agents / work-poll interval;
* renewals/day = certificates / renewal period, where the renewal period is
  the part of a certificate's validity before it is renewed:
  validity x (1 - renew_before) for a fraction (30 % → renewed with 30 % of its
  life left), or validity - renew_before for a duration (renewed 10 d before
  expiry); renewals/s = renewals/day / 86 400 (the steady state: certificates
  issued all at once renew all at once too);
* API requests/s as given (dashboards, operators, CI).

With a ceiling (``ceiling.json``; iterations/s that met every SLO), the
headroom is ceiling / offered load of the endpoint it was measured on (or the
whole load, for ``total``); the fleet scales by the smallest headroom, and
that endpoint with its binding constraint is what limits it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetload.durations import format_duration, parse_duration
from fleetload.errors import ConfigError

DAY = 86400.0
ENDPOINTS = ("heartbeat", "work-poll", "renewal", "api", "total")
_LABEL = {"heartbeat": "heartbeats", "work-poll": "work polls", "renewal": "renewals",
          "api": "API requests", "total": "the whole load"}


@dataclass(frozen=True)
class Fleet:
    agents: int
    heartbeat_interval: float | None = None  # seconds
    work_poll_interval: float | None = None
    certs: int = 0
    validity: float | None = None  # seconds
    renew_before: str = "30%"  # a fraction ("30%", "0.3") or a duration ("10d")
    api_rps: float = 0.0


@dataclass
class Line:
    endpoint: str
    per_second: float
    formula: str
    explanation: str

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "per_second": self.per_second, "formula": self.formula,
                "explanation": self.explanation}


@dataclass
class CeilingInput:
    endpoint: str
    rate: float
    constraint: str | None
    status: str
    path: str
    lower_bound: bool = False  # no SLO broke: the ceiling is at or above ``rate``


@dataclass
class Plan:
    fleet: Fleet
    lines: list[Line]
    total: float
    renewal_period: float | None = None
    capacity: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def parse_fraction_or_duration(text: str, validity: float) -> tuple[float, str]:
    """``renew_before`` → (renewal period in seconds, how it was computed)."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            frac = float(raw[:-1]) / 100.0
        elif re_number(raw) and float(raw) < 1:
            frac = float(raw)
        else:
            before = parse_span(raw, what="--renew-before")
            if before >= validity:
                raise ConfigError(f"--renew-before {raw} is not shorter than the validity")
            return validity - before, (f"validity - renew_before = {_days(validity)} - "
                                       f"{_days(before)} = {_days(validity - before)}")
    except ValueError:
        raise ConfigError(f"--renew-before {raw!r}: expected a percentage (30%), a fraction "
                          "(0.3) or a duration (10d)") from None
    if not 0 <= frac < 1:
        raise ConfigError(f"--renew-before {raw!r}: the fraction must be in [0, 1)")
    period = validity * (1 - frac)
    return period, (f"validity x (1 - renew_before) = {_days(validity)} x (1 - {frac:g}) = "
                    f"{_days(period)}")


def parse_span(text: str, *, what: str) -> float:
    """A positive duration; days (``47d``, ``1d12h``) are part of the shared
    duration grammar, since certificate lifetimes are counted in days."""
    seconds = parse_duration(text.strip(), what=what)
    if seconds <= 0:
        raise ConfigError(f"{what} must be greater than 0, got {text!r}")
    return seconds


def re_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _days(seconds: float) -> str:
    return f"{seconds / DAY:.4g} d" if seconds >= DAY else format_duration(seconds)


def _secs(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 3600 else _days(seconds)


def _n(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def offered_load(fleet: Fleet) -> Plan:
    if fleet.agents < 0 or fleet.certs < 0:
        raise ConfigError("--agents and --certs must not be negative")
    lines: list[Line] = []
    period = None
    if fleet.heartbeat_interval:
        hb = fleet.agents / fleet.heartbeat_interval
        lines.append(Line("heartbeat", hb, f"{fleet.agents:,} agents / "
                          f"{_secs(fleet.heartbeat_interval)} = {_n(hb)}/s",
                          "every agent reports once per heartbeat interval"))
    if fleet.work_poll_interval:
        wp = fleet.agents / fleet.work_poll_interval
        lines.append(Line("work-poll", wp, f"{fleet.agents:,} agents / "
                          f"{_secs(fleet.work_poll_interval)} = {_n(wp)}/s",
                          "every agent asks for work once per poll interval"))
    if fleet.certs:
        if not fleet.validity:
            raise ConfigError("--certs needs --validity (e.g. 47d)")
        period, how = parse_fraction_or_duration(fleet.renew_before, fleet.validity)
        per_day = fleet.certs / (period / DAY)
        lines.append(Line("renewal", per_day / DAY,
                          f"{fleet.certs:,} certificates / {_days(period)} = {_n(per_day)}/day "
                          f"= {per_day / DAY:.3g}/s",
                          f"each certificate is renewed once per renewal period, {how}; "
                          "a steady state — certificates issued together renew together"))
    if fleet.api_rps:
        lines.append(Line("api", fleet.api_rps, f"{_n(fleet.api_rps)}/s as given",
                          "API traffic besides the agents (operators, dashboards, CI)"))
    if not lines:
        raise ConfigError("nothing to plan: give --heartbeat-interval, --work-poll-interval, "
                          "--certs with --validity, or --api-rps")
    return Plan(fleet, lines, sum(line.per_second for line in lines), period)


def load_ceiling(spec: str) -> CeilingInput:
    """``[ENDPOINT=]ceiling.json`` (a run's output directory works too)."""
    endpoint, eq, path = spec.partition("=")
    if not eq:
        endpoint, path = "total", spec
    if endpoint not in ENDPOINTS:
        raise ConfigError(f"--ceiling {spec!r}: endpoint must be one of {', '.join(ENDPOINTS)}")
    p = Path(path)
    if p.is_dir():
        p = p / "ceiling.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--ceiling {path}: cannot read a ceiling.json ({exc})") from None
    rate = data.get("ceiling_rate")
    if not isinstance(rate, int | float) or rate <= 0:
        raise ConfigError(f"--ceiling {path}: no ceiling rate in it (status {data.get('status')})")
    found = data.get("constraint") or {}
    constraint = found.get("text")
    if found.get("kind") in (None, "unobserved", "unknown"):
        broken = ", ".join(data.get("broken_slos") or []) or "an SLO"
        constraint = f"{broken} (binding constraint not observed)"
    status = str(data.get("status", ""))
    lower = bool(data.get("ceiling_is_lower_bound")) or status == "no-break"
    return CeilingInput(endpoint, float(rate), constraint, status, str(p), lower)


def about(value: float) -> str:
    """Two significant digits, rounded down: capacity is promised conservatively."""
    if value <= 0:
        return "0"
    digits = max(math.floor(math.log10(value)) - 1, 0)
    scale = 10 ** digits
    return f"{math.floor(value / scale) * scale:,}"


def with_ceilings(plan: Plan, ceilings: list[CeilingInput]) -> Plan:
    by_endpoint = {line.endpoint: line.per_second for line in plan.lines}
    by_endpoint["total"] = plan.total
    rows = []
    for c in ceilings:
        offered = by_endpoint.get(c.endpoint)
        if not offered:
            raise ConfigError(f"--ceiling {c.endpoint}=...: this fleet offers no {_LABEL[c.endpoint]}")
        rows.append((c.rate / offered, c, offered))
    headroom, limit, offered = min(rows, key=lambda r: r[0])
    f = plan.fleet
    what = f"{_LABEL[limit.endpoint]} at {_n(limit.rate)}/s"
    if limit.lower_bound:
        why = "the highest rate measured (no SLO broke there; the ceiling is at or above it)"
    else:
        why = limit.constraint or "an SLO (binding constraint not observed)"
    x = f"{what} — {why}"
    parts = [f"{about(f.agents * headroom)} agents"]
    if f.certs:
        parts.append(f"{about(f.certs * headroom)} certificates")
    sentence = f"supports about {' / '.join(parts)} at this cadence, limited by {x}"
    plan.capacity = {
        "headroom": headroom, "agents": f.agents * headroom,
        "certificates": f.certs * headroom if f.certs else None,
        "limited_by": {"endpoint": limit.endpoint, "ceiling_rate": limit.rate,
                       "offered": offered, "constraint": limit.constraint, "file": limit.path},
        "arithmetic": (f"headroom = ceiling / offered = {_n(limit.rate)}/s / {_n(offered)}/s = "
                       f"{headroom:.3g}x; agents {f.agents:,} x {headroom:.3g}"
                       + (f", certificates {f.certs:,} x {headroom:.3g}" if f.certs else "")),
        "sentence": sentence,
    }
    return plan


def render_text(plan: Plan) -> str:
    out = ["offered load"]
    for line in plan.lines:
        out.append(f"  {line.endpoint:<10} {line.per_second:>10.4g}/s   {line.formula}")
        out.append(f"  {'':<10} {'':>12}   ({line.explanation})")
    out.append(f"  {'total':<10} {plan.total:>10.4g}/s")
    if plan.capacity:
        out.append("")
        out.append(f"  {plan.capacity['arithmetic']}")
        out.append(plan.capacity["sentence"])
    return "\n".join(out) + "\n"


def to_json(plan: Plan) -> dict[str, Any]:
    f = plan.fleet
    return {"fleet": {"agents": f.agents, "heartbeat_interval_s": f.heartbeat_interval,
                      "work_poll_interval_s": f.work_poll_interval, "certs": f.certs,
                      "validity_s": f.validity, "renew_before": f.renew_before,
                      "api_rps": f.api_rps},
            "renewal_period_s": plan.renewal_period,
            "offered": [line.to_json() for line in plan.lines], "total_per_second": plan.total,
            "capacity": plan.capacity}
