"""Naming the binding constraint at the knee, from evidence.

Compares the observations of the last good step with those of the first bad
one (window means; :mod:`fleetload.capacity.window`) and looks for a resource
that was saturated at the bad step and had a queue in front of it:

* a connection pool exposed by Prometheus (``*pool_size``, ``*pool_in_use``,
  ``*pool_waiting``, as fleetplane names them; HikariCP's
  ``hikaricp_connections_{max,active,pending}`` too): peak in use ≥ 90 % of its size
  and waiters rising;
* a process's CPU (``--observe process=...``): its busiest process ≥ 90 % of a
  core — a Python event loop is one core;
* PostgreSQL (``--observe postgres=...``): connections ≥ 90 % of
  ``max_connections``, or backends waiting on locks rising;
* requests in flight rising (any ``*in_flight*`` gauge): queueing with no
  observed cause — reported when nothing better is found.

Each finding has a score (how saturated, with a bonus for a growing queue);
the best names the constraint, the others are listed as also seen. Without
observations, or when nothing is saturated, the answer says so instead of
guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .window import SeriesStats

SATURATED = 0.9


@dataclass
class Finding:
    kind: str  # "db-pool", "cpu", "postgres-connections", "postgres-locks", "in-flight"
    text: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Constraint:
    text: str
    kind: str
    findings: list[Finding]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "kind": self.kind,
                "findings": [{"kind": f.kind, "text": f.text, "score": round(f.score, 3),
                              "evidence": f.evidence} for f in self.findings]}


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "?"
    if ms >= 1000:
        return f"{ms / 1000:.2g} s" if ms < 10000 else f"{ms / 1000:.0f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.2g} ms"


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.1f}"


Obs = dict[str, dict[str, SeriesStats]]

_POOL = re.compile(r"^(?P<p>.*pool)_(?P<what>size|in_use|waiting)$")
_HIKARI = re.compile(r"^hikaricp_connections_(?P<what>max|active|pending)(?P<labels>\{.*\})?$")
_HIKARI_MAP = {"max": "size", "active": "in_use", "pending": "waiting"}


def _pools(values: dict[str, SeriesStats]) -> dict[str, dict[str, SeriesStats]]:
    pools: dict[str, dict[str, SeriesStats]] = {}
    for key, stats in values.items():
        m = _POOL.match(key)
        if m:
            pools.setdefault(m.group("p"), {})[m.group("what")] = stats
            continue
        h = _HIKARI.match(key)
        if h:
            pools.setdefault("hikaricp" + (h.group("labels") or ""), {})[
                _HIKARI_MAP[h.group("what")]] = stats
    return {k: v for k, v in pools.items() if "size" in v and "in_use" in v}


def _before(good: Obs | None, source: str, key: str) -> SeriesStats | None:
    if good is None:
        return None
    return good.get(source, {}).get(key)


def _latency_clause(p99_good: float | None, p99_bad: float | None) -> str:
    if p99_good is None:
        return f"while p99 reached {fmt_ms(p99_bad)}"
    return f"while p99 went from {fmt_ms(p99_good)} to {fmt_ms(p99_bad)}"


def findings(good: Obs | None, bad: Obs, p99_good: float | None,
             p99_bad: float | None) -> list[Finding]:
    lat = _latency_clause(p99_good, p99_bad)
    out: list[Finding] = []
    for source, values in bad.items():
        for name, pool in _pools(values).items():
            # Peak in use: one-second samples of a pool that is full only
            # between bursts average well below its size.
            size, in_use = pool["size"].mean, pool["in_use"].max
            if size <= 0:
                continue
            util = min(in_use / size, 1.0)
            waiting = pool.get("waiting")
            w_before = _before(good, source, f"{name}_waiting")
            w0 = w_before.mean if w_before else 0.0
            rising = waiting is not None and waiting.mean > max(w0, 0.5)
            if util < SATURATED and not rising:
                continue
            label = "database pool" if "db" in name or "hikari" in name else f"pool {name}"
            text = f"{label} {_num(in_use)}/{_num(size)} in use"
            if waiting is not None:
                text += (f" and waiting connections rising from {_num(w0)} to {_num(waiting.mean)}"
                         f" (peak {_num(waiting.max)})" if rising else
                         f" with {_num(waiting.mean)} waiting")
            out.append(Finding("db-pool", f"{text} {lat}", util + (0.5 if rising else 0.0),
                               {"source": source, "pool": name, "size": size, "in_use": in_use,
                                "in_use_mean": pool["in_use"].mean, "waiting_before": w0,
                                "waiting": waiting.mean if waiting else None,
                                "waiting_peak": waiting.max if waiting else None}))
        cpu = values.get("cpu_max_pct")
        demand = values.get("cpu_demand_max_pct")
        busy = max(cpu.mean if cpu else 0.0, demand.mean if demand else 0.0)
        if source.startswith("process:") and cpu is not None and busy >= SATURATED * 100:
            before = _before(good, source, "cpu_max_pct")
            frm = f" (from {before.mean:.0f}%)" if before else ""
            # A saturated event loop stretches every connection's hold time, so a
            # pool that fills up with it is the effect: CPU >= 95 % outranks it.
            # (A pool that binds first keeps the CPU low: 35-53 % in the demo.)
            # Time spent runnable but waiting for a core counts as CPU demand: a
            # process starved by its neighbours is CPU-bound all the same, and a
            # starved loop stretches connection hold times just like a busy one.
            score = busy / 100.0 + (0.6 if busy >= 95 or busy - cpu.mean >= 10 else 0.0)
            what = source.split(":", 1)[1]
            what = f"target process {what}" if what.isdigit() else what
            starved = busy - cpu.mean
            detail = (f"{what} CPU at {cpu.mean:.0f}% of a core plus {starved:.0f}% waiting for "
                      f"a core (starved by other processes)" if starved >= 10 else
                      f"{what} CPU at {cpu.mean:.0f}% of a core")
            out.append(Finding("cpu", f"{detail}{frm} {lat}", score,
                               {"source": source, "cpu_pct": cpu.mean, "cpu_demand_pct": busy,
                                "cpu_pct_before": before.mean if before else None}))
        used = values.get("connections_used_pct")
        if source.startswith("postgres") and used is not None and used.mean >= SATURATED * 100:
            conns, mx = values["connections"].mean, values["max_connections"].mean
            out.append(Finding("postgres-connections", f"PostgreSQL connections {_num(conns)}/"
                               f"{_num(mx)} (max_connections) {lat}", used.mean / 100.0 + 0.3,
                               {"source": source, "connections": conns, "max": mx}))
        locks = values.get("wait:Lock")
        if source.startswith("postgres") and locks is not None and locks.mean >= 1:
            before = _before(good, source, "wait:Lock")
            l0 = before.mean if before else 0.0
            if locks.mean > 2 * max(l0, 0.5):
                out.append(Finding("postgres-locks", f"PostgreSQL backends waiting on locks rising "
                                   f"from {_num(l0)} to {_num(locks.mean)} {lat}", 0.8,
                                   {"source": source, "before": l0, "after": locks.mean}))
        for key, stats in values.items():
            if "in_flight" in key and ":" not in key:
                before = _before(good, source, key)
                b = before.mean if before else 0.0
                if stats.mean > 2 * max(b, 1.0):
                    out.append(Finding("in-flight", f"requests in flight at the target rising "
                                       f"from {_num(b)} to {_num(stats.mean)} {lat} (queueing; "
                                       "no saturated resource observed)", 0.3,
                                       {"source": source, "metric": key, "before": b,
                                        "after": stats.mean}))
    out.sort(key=lambda f: -f.score)
    return out


def name_constraint(good: Any | None, bad: Any) -> Constraint:
    """``good``/``bad`` are :class:`fleetload.capacity.steps.Step` (good may be None)."""
    p99_good = good.p("p99") if good is not None else None
    p99_bad = bad.p("p99")
    if not bad.observations:
        return Constraint("not observed: run with --observe (prometheus=, postgres=, process=) "
                          "to name what limits the target", "unobserved", [])
    found = findings(good.observations if good is not None else None, bad.observations,
                     p99_good, p99_bad)
    if not found:
        return Constraint("no observed resource was saturated at the knee "
                          f"({_latency_clause(p99_good, p99_bad).replace('while ', '')}); "
                          "the limit is something not observed", "unknown", [])
    return Constraint(found[0].text, found[0].kind, found)
