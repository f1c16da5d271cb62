"""Run validity: did the run offer the load it was asked to?

Thresholds judge the target; validity judges the run itself. A run that did
not deliver its schedule says nothing reliable about the target, whatever its
latencies, so it cannot pass: its verdict is INCONCLUSIVE (exit 3) with the
reasons, unless ``--allow-inconclusive`` turns them into warnings. A run is
not valid when:

* an open-loop scenario did not keep its schedule: iterations were dropped
  (the in-flight cap was reached), or its iteration lag p99 exceeded
  ``lag_bound`` (10 ms by default; judged once :data:`MIN_LAG_SAMPLES`
  iterations started), or fewer than ``min_achieved`` (97 %) of
  the scheduled iterations started;
* a fleet's registration ramp did not complete (agents never got through);
* an open-loop scenario's corrected latency was mostly the generator's own
  lag: its iteration lag p99 was at least ``lag_share_bound`` (90 %) of its
  ``http_req_latency`` p99 and at least half of ``lag_bound``, never less
  than the default lag bound (10 ms) - the latency then measures fleetload's
  scheduling, not the target (from ``lag_share_warn``, 50 % and 2 ms, it is a
  warning). At the default ``--max-lag`` the strict bound meets the lag
  bound: healthy runs against a fast target on a busy 2-core machine show
  5-9 ms of lag and must not be condemned for it; it bites when ``--max-lag``
  is loosened;
* the generator's own CPU was saturated (the busiest worker process used more
  than ``cpu_limit`` of a core on average) while it ran an open-loop or fleet
  scenario - for closed-loop runs that is only a warning, since a closed loop
  runs as fast as it can by design;
* the run was cut short for a reason other than a threshold or Ctrl-C.

Thresholds that fail still make the run FAILED (exit 99): a target that broke
its contract under less load than asked has still broken it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_LAG_BOUND = 0.010
DEFAULT_MIN_ACHIEVED = 0.97
DEFAULT_CPU_LIMIT = 0.90
MIN_LAG_SAMPLES = 100
DEFAULT_LAG_SHARE_WARN = 0.50
DEFAULT_LAG_SHARE_WARN_FLOOR = 0.002
DEFAULT_LAG_SHARE_BOUND = 0.90
DEFAULT_LAG_SHARE_FLOOR = 0.5  # of lag_bound
"""Iteration lag p99 is judged once this many iterations started: below that the
p99 is the single slowest start, and one stall is not a schedule not kept."""


@dataclass(frozen=True)
class ValidityRules:
    lag_bound: float = DEFAULT_LAG_BOUND  # seconds, iteration lag p99
    min_achieved: float = DEFAULT_MIN_ACHIEVED  # started / scheduled
    cpu_limit: float = DEFAULT_CPU_LIMIT  # fraction of one core, busiest process
    # The generator's share of the corrected latency: iteration lag p99 over
    # http_req_latency p99, and the lag p99 it must reach to count (the
    # warning's in seconds, the reason's as a fraction of lag_bound).
    lag_share_warn: float = DEFAULT_LAG_SHARE_WARN
    lag_share_warn_floor: float = DEFAULT_LAG_SHARE_WARN_FLOOR
    lag_share_bound: float = DEFAULT_LAG_SHARE_BOUND
    lag_share_floor: float = DEFAULT_LAG_SHARE_FLOOR

    def to_json(self) -> dict[str, float]:
        return {"lag_bound_ms": self.lag_bound * 1000.0, "min_achieved": self.min_achieved,
                "cpu_limit_pct": self.cpu_limit * 100.0,
                "lag_share_warn_pct": self.lag_share_warn * 100.0,
                "lag_share_warn_floor_ms": self.lag_share_warn_floor * 1000.0,
                "lag_share_bound_pct": self.lag_share_bound * 100.0,
                "lag_share_floor_ms": self.share_floor_ms()}

    def share_floor_ms(self) -> float:
        return max(self.lag_share_floor * self.lag_bound, DEFAULT_LAG_BOUND) * 1000.0


def lag_too_high(lag_p99_ms: float | None, started: float, rules: ValidityRules) -> bool:
    return (lag_p99_ms is not None and started >= MIN_LAG_SAMPLES
            and lag_p99_ms > rules.lag_bound * 1000.0)


def schedule_kept(dropped: float, lag_p99_ms: float | None, rules: ValidityRules,
                  started: float = MIN_LAG_SAMPLES) -> bool:
    return dropped == 0 and not lag_too_high(lag_p99_ms, started, rules)


def generator_share(lag_p99_ms: float | None,
                    latency_p99_ms: float | None) -> dict[str, Any] | None:
    """The generator's own share of a scenario's corrected latency: its
    iteration lag p99 beside its ``http_req_latency`` p99 (both in ms), and
    the sentence that says it. Percentiles do not subtract, so the lag is
    "up to" that much of the latency."""
    if lag_p99_ms is None or latency_p99_ms is None or latency_p99_ms <= 0:
        return None
    share = min(max(lag_p99_ms, 0.0) / latency_p99_ms, 1.0)
    text = (f"http_req_latency p99 {_ms(latency_p99_ms)}, of which up to "
            f"{_ms(min(max(lag_p99_ms, 0.0), latency_p99_ms))} ({100.0 * share:.0f}%) is "
            f"fleetload's own scheduling lag (iteration_lag p99)")
    return {"latency_p99_ms": latency_p99_ms, "lag_p99_ms": lag_p99_ms,
            "share": round(share, 4), "text": text}


def _ms(v: float) -> str:
    return f"{v:,.1f} ms" if v >= 1.0 else f"{v:,.2f} ms"


def lag_share_verdict(share: Mapping[str, Any] | None, started: float,
                      rules: ValidityRules) -> str | None:
    """``"inconclusive"``, ``"warning"`` or None for a :func:`generator_share`."""
    if not share or started < MIN_LAG_SAMPLES:
        return None
    lag, fraction = float(share["lag_p99_ms"]), float(share["share"])
    if fraction >= rules.lag_share_bound and lag >= rules.share_floor_ms():
        return "inconclusive"
    if fraction >= rules.lag_share_warn and lag >= rules.lag_share_warn_floor * 1000.0:
        return "warning"
    return None


def _lag_share_text(name: str, share: Mapping[str, Any], verdict: str,
                    rules: ValidityRules) -> str:
    if verdict == "inconclusive":
        bound = f"{100.0 * rules.lag_share_bound:g}% and {rules.share_floor_ms():g} ms bound"
        what = "the corrected latency measures the generator, not the target"
    else:
        bound = (f"{100.0 * rules.lag_share_warn:g}% and "
                 f"{rules.lag_share_warn_floor * 1000.0:g} ms mark")
        what = "the corrected latency is mostly the generator's"
    return f"scenario {name}: {share['text']}, at or above the {bound}: {what}"


def _scenario_reasons(name: str, sc: Mapping[str, Any], rules: ValidityRules,
                      warnings: list[str] | None = None) -> list[str]:
    reasons: list[str] = []
    sched = sc.get("schedule")
    if sched:
        scheduled = float(sched.get("scheduled_iterations") or 0.0)
        dropped = float(sched.get("dropped_iterations") or 0.0)
        started = float(sc.get("iterations") or 0.0) + float(sc.get("interrupted_iterations") or 0.0)
        if dropped:
            cap = (sc.get("options") or {}).get("max_in_flight")
            reasons.append(f"scenario {name}: {dropped:,.0f} of {scheduled:,.0f} scheduled "
                           f"iterations dropped (in-flight cap{f' {cap}' if cap else ''} reached)")
        lag = (sched.get("iteration_lag") or {}).get("p99")
        if lag_too_high(lag, started, rules):
            reasons.append(f"scenario {name}: iteration lag p99 {lag:,.1f} ms is above the "
                           f"{rules.lag_bound * 1000.0:g} ms bound: iterations started late")
        else:
            share = sched.get("generator_lag")
            verdict = lag_share_verdict(share, started, rules)
            if share and verdict == "inconclusive":
                reasons.append(_lag_share_text(name, share, verdict, rules))
            elif share and verdict == "warning" and warnings is not None:
                warnings.append(_lag_share_text(name, share, verdict, rules))
        if scheduled > 0 and started < rules.min_achieved * scheduled and not dropped:
            reasons.append(f"scenario {name}: {started:,.0f} of {scheduled:,.0f} scheduled "
                           f"iterations started ({100.0 * started / scheduled:.1f}%, below "
                           f"{100.0 * rules.min_achieved:g}%)")
    fleet = sc.get("fleet")
    if fleet and fleet.get("ramp_pending"):
        pending = int(fleet["ramp_pending"])
        agents = int(fleet.get("agents") or 0)
        reasons.append(f"scenario {name}: fleet ramp not completed: {pending:,} of {agents:,} "
                       "agents never got through registration")
    return reasons


def _cpu_mean(cpu: Sequence[float]) -> float | None:
    """Mean of the busiest process's CPU per interval, without the first and
    last interval (start-up and the graceful-stop sliver) when there are more."""
    values = list(cpu[1:-1]) if len(cpu) > 2 else list(cpu)
    return sum(values) / len(values) if values else None


def assess(summary: Mapping[str, Any], cpu: Sequence[float], rules: ValidityRules,
           *, stopped_early: str | None = None) -> dict[str, Any]:
    """``{"valid", "reasons", "warnings", "rules", "generator_cpu_pct"}`` for a
    summary built by :func:`fleetload.results.summary.build_summary`."""
    reasons: list[str] = []
    warnings: list[str] = []
    offered_load = False
    for name, sc in (summary.get("scenarios") or {}).items():
        reasons.extend(_scenario_reasons(name, sc, rules, warnings))
        offered_load = offered_load or bool(sc.get("schedule") or sc.get("fleet"))
    mean = _cpu_mean(cpu)
    if mean is not None and mean >= rules.cpu_limit:
        text = (f"generator CPU saturated: the busiest worker process used {100 * mean:.0f}% "
                f"of a core on average (limit {100 * rules.cpu_limit:.0f}%); add --workers")
        if offered_load:
            reasons.append(text)
        else:
            warnings.append(text + ": closed-loop throughput is bounded by the generator")
    if stopped_early:
        reasons.append(f"stopped early: {stopped_early}")
    return {"valid": not reasons, "reasons": reasons, "warnings": warnings,
            "rules": rules.to_json(),
            "generator_cpu_pct": round(100.0 * mean, 1) if mean is not None else None}


def validity_lines(validity: Mapping[str, Any]) -> list[str]:
    """Text-summary lines: the reasons, then the warnings."""
    lines = []
    if validity.get("reasons"):
        allowed = " (allowed by --allow-inconclusive)" if validity.get("allowed") else ""
        lines.append(f"run validity: NOT VALID, the run did not deliver the load asked for{allowed}:")
        lines.extend(f"  - {r}" for r in validity["reasons"])
    for w in validity.get("warnings") or []:
        lines.append(f"warning: {w}")
    return lines


__all__ = ["ValidityRules", "assess", "generator_share", "lag_share_verdict", "schedule_kept",
           "validity_lines"]
