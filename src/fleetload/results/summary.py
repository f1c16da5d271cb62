"""``summary.json``: k6's summary-export shape, plus run, meta and per-scenario sections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleetload.engine.executors import ArrivalRateExecutor
from fleetload.engine.plan import Scenario
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.failure_samples import ReasonSamples, SampleKey
from fleetload.metrics.kinds import Kind, make_tags, series_name
from fleetload.metrics.thresholds import Evaluation, ThresholdSet
from fleetload.results.failures import failure_breakdown
from fleetload.results.validity import ValidityRules, generator_share, schedule_kept

SUMMARY_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)"]
PER_SCENARIO_METRICS = (
    "http_reqs", "http_req_duration", "http_req_latency", "http_req_failed", "iterations",
    "iteration_duration", "iteration_lag", "dropped_iterations", "checks", "data_sent",
    "data_received", "interrupted_iterations", "iteration_errors",
)
# Iterations whose start lagged the schedule by more than this make a run
# "behind schedule" (100 ms: a tenth of the live-line interval granularity).
BEHIND_P99 = 0.1


def _entry(agg: Aggregate, name: str, tags: tuple[tuple[str, str], ...] = ()) -> dict[str, Any] | None:
    values = agg.values(name, tags, percentiles=(99.9,))
    if values is None:
        return None
    kind = agg.kind_of(name)
    assert kind is not None
    if kind is Kind.TREND:
        values = {k: values[k] for k in SUMMARY_TREND_STATS if k in values}
    return {"type": kind.value, "contains": agg.contains(name).value, "values": values}


def metrics_section(agg: Aggregate, scenarios: Sequence[Scenario],
                    thresholds: Sequence[ThresholdSet], evaluation: Evaluation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in agg.names():
        entry = _entry(agg, name)
        if entry is not None:
            out[name] = entry
    for sc in scenarios:
        tags = (("scenario", sc.name),)
        for name in PER_SCENARIO_METRICS:
            entry = _entry(agg, name, tags)
            if entry is not None:
                out[series_name(name, tags)] = entry
    for ts in thresholds:
        key = ts.key
        if key not in out:
            entry = _entry(agg, ts.selector.metric, ts.selector.tags)
            kind = agg.kind_of(ts.selector.metric)
            out[key] = entry or {"type": kind.value if kind else "unknown",
                                 "contains": agg.contains(ts.selector.metric).value, "values": {}}
        out[key].setdefault("thresholds", {})
    for verdict in evaluation.verdicts:
        out[verdict.selector]["thresholds"][verdict.source] = {"ok": verdict.ok}
    return out


def checks_section(agg: Aggregate) -> list[dict[str, Any]]:
    per: dict[str, list[int]] = {}
    for (name, tags), (passes, total) in agg.rates.items():
        if name != "checks":
            continue
        check = dict(tags).get("check", "")
        cell = per.setdefault(check, [0, 0])
        cell[0] += passes
        cell[1] += total - passes
    return [{"name": n, "path": f"::{n}", "id": str(abs(hash(n)) % 10**12), "passes": p, "fails": f}
            for n, (p, f) in sorted(per.items())]


class SummaryView:
    """Read access to a run's totals for summary hooks: k6 summary values of a
    metric over the series matching some tags."""

    def __init__(self, agg: Aggregate) -> None:
        self._agg = agg

    def values(self, metric: str, tags: Mapping[str, str] | None = None,
               percentiles: tuple[float, ...] = (99.9,)) -> dict[str, float] | None:
        return self._agg.values(metric, make_tags(dict(tags or {})), percentiles=percentiles)

    def tag_values(self, metric: str, tag: str) -> list[str]:
        return self._agg.tag_values(metric, tag)

    @property
    def elapsed(self) -> float:
        return self._agg.elapsed


def scenario_section(agg: Aggregate, sc: Scenario, elapsed: float,
                     status: Mapping[str, float] | None = None,
                     rules: ValidityRules | None = None) -> dict[str, Any]:
    tags = (("scenario", sc.name),)
    ex = sc.executor
    active = max(min(elapsed - float(ex.start_time), ex.scheduled_duration()), 1e-9)

    def count(name: str) -> float:
        v = agg.values(name, tags)
        return v["count"] if v else 0.0

    def trend(name: str) -> dict[str, float] | None:
        v = agg.values(name, tags, percentiles=(99.9,))
        if not v or not v.get("count"):
            return None
        return {"p50": v["med"], "p90": v["p(90)"], "p95": v["p(95)"], "p99": v["p(99)"],
                "p99.9": v["p(99.9)"], "avg": v["avg"], "min": v["min"], "max": v["max"]}

    failed = agg.values("http_req_failed", tags)
    checks = agg.values("checks", tags)
    iterations = count("iterations")
    dropped = count("dropped_iterations")
    lag = trend("iteration_lag")
    section: dict[str, Any] = {
        "executor": ex.kind,
        "description": ex.describe(),
        "options": ex.options(),
        "iterations": iterations,
        "iteration_rate": iterations / active,
        "http_reqs": count("http_reqs"),
        "request_rate": count("http_reqs") / active,
        "http_req_failed_rate": failed["rate"] if failed else 0.0,
        "checks_rate": checks["rate"] if checks else None,
        "dropped_iterations": dropped,
        "interrupted_iterations": count("interrupted_iterations"),
        "iteration_errors": count("iteration_errors"),
        "http_req_duration": trend("http_req_duration"),
        "http_req_latency": trend("http_req_latency"),
        "iteration_duration": trend("iteration_duration"),
    }
    extra = ex.summary_extra(status or {}, SummaryView(agg))
    if extra:
        section.update(extra)
    if ex.open_loop:
        scheduled = ex.scheduled_iterations() if isinstance(ex, ArrivalRateExecutor) else 0.0
        behind = bool(lag and lag["p99"] / 1000.0 > BEHIND_P99)
        rules = rules or ValidityRules()
        latency = section["http_req_latency"]
        section["schedule"] = {
            "scheduled_iterations": scheduled,
            "iteration_lag": lag,
            "dropped_iterations": dropped,
            "kept": schedule_kept(dropped, lag["p99"] if lag else None, rules,
                                  iterations + count("interrupted_iterations")),
            "behind": behind,
            "lag_bound_ms": rules.lag_bound * 1000.0,
            # The corrected latency's p99 beside the generator's own lag p99.
            "generator_lag": generator_share(lag["p99"] if lag else None,
                                             latency["p99"] if latency else None),
        }
    return section


def build_summary(agg: Aggregate, scenarios: Sequence[Scenario], thresholds: Sequence[ThresholdSet],
                  evaluation: Evaluation, *, meta: dict[str, Any], run: dict[str, Any],
                  errors: Mapping[tuple[str, str], int],
                  samples: Mapping[SampleKey, ReasonSamples] | None = None,
                  status: Mapping[str, Mapping[str, float]] | None = None,
                  rules: ValidityRules | None = None) -> dict[str, Any]:
    status = status or {}
    sections = {}
    for sc in scenarios:
        section = scenario_section(agg, sc, agg.elapsed, status.get(sc.name), rules)
        section["failures"] = failure_breakdown(agg, sc.name, samples or {}, errors)
        sections[sc.name] = section
    return {
        "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
                       "groups": [], "checks": checks_section(agg)},
        "options": {"summaryTrendStats": SUMMARY_TREND_STATS, "summaryTimeUnit": "ms",
                    "noColor": True},
        "state": {"testRunDurationMs": agg.elapsed * 1000.0},
        "metrics": metrics_section(agg, scenarios, thresholds, evaluation),
        "scenarios": sections,
        "thresholds": [{"metric": v.selector, "threshold": v.source, "ok": v.ok,
                        "observed": v.observed, "reason": v.reason or None}
                       for v in evaluation.verdicts],
        "errors": [{"scenario": scenario, "error": text, "count": n}
                   for (scenario, text), n in sorted(errors.items(), key=lambda kv: -kv[1])],
        "run": run,
        "meta": meta,
    }
