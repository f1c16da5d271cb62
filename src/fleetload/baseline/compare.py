"""Comparing a run with a baseline: per scenario and metric, the change, its
95 % bootstrap confidence interval, and a verdict.

A change is **significant** when its 95 % CI excludes 0 *and* its size is at
least ``PRACTICAL_PCT`` percent: the first rules out noise, the second rules
out differences too small to matter (a 0.3 % shift measured very precisely is
still "no significant change").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleetload.baseline import bootstrap
from fleetload.baseline.data import RunData, ScenarioIntervals
from fleetload.baseline.methodology import methodology_warnings

PRACTICAL_PCT = 5.0
# Error rates are compared relative to at least 1 %: 0 -> 0.5 % reads as +50 %,
# not as an infinite change, and 0.01 % -> 0.02 % is not a "+100 %" regression.
ERROR_RATE_FLOOR = 0.01

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no significant change"
NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    key: str  # e.g. "http_req_duration p95"
    unit: str  # "ms", "rate" (a fraction), "/s"
    higher_is_worse: bool
    point: Callable[[dict[str, Any]], float | None]  # from summary.json's scenario section
    boot: Callable[[ScenarioIntervals, np.random.Generator], np.ndarray | None]


def _trend(metric: str, p: str) -> Callable[[dict[str, Any]], float | None]:
    def get(sc: dict[str, Any]) -> float | None:
        t = sc.get(metric)
        return float(t[p]) if isinstance(t, dict) and p in t else None
    return get


def _latency_boot(metric: str, p: float) -> Callable[[ScenarioIntervals, np.random.Generator],
                                                      np.ndarray | None]:
    def boot(iv: ScenarioIntervals, rng: np.random.Generator) -> np.ndarray | None:
        return bootstrap.percentile(iv.latency.get(metric), p, rng)
    return boot


def _field(name: str) -> Callable[[dict[str, Any]], float | None]:
    def get(sc: dict[str, Any]) -> float | None:
        v = sc.get(name)
        return float(v) if isinstance(v, int | float) else None
    return get


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("http_req_duration p50", "ms", True, _trend("http_req_duration", "p50"),
               _latency_boot("http_req_duration", 50.0)),
    MetricSpec("http_req_duration p95", "ms", True, _trend("http_req_duration", "p95"),
               _latency_boot("http_req_duration", 95.0)),
    MetricSpec("http_req_duration p99", "ms", True, _trend("http_req_duration", "p99"),
               _latency_boot("http_req_duration", 99.0)),
    MetricSpec("http_req_latency p99", "ms", True, _trend("http_req_latency", "p99"),
               _latency_boot("http_req_latency", 99.0)),
    MetricSpec("error rate", "rate", True, _field("http_req_failed_rate"),
               lambda iv, rng: bootstrap.ratio(iv.failed, iv.reqs, rng)),
    MetricSpec("iteration rate", "/s", False, _field("iteration_rate"),
               lambda iv, rng: bootstrap.ratio(iv.iterations, iv.dt, rng)),
)


@dataclass(slots=True)
class MetricResult:
    scenario: str
    metric: str
    unit: str
    baseline: float | None
    now: float | None
    change_pct: float | None  # relative change (error rate: relative to max(base, 1 %))
    # 95 % CI of the change: in percent, or for error rates in percentage points.
    ci: tuple[float, float] | None
    verdict: str
    # How much worse, in percent, when the verdict is a regression (else 0).
    regression_pct: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "metric": self.metric, "unit": self.unit,
                "baseline": self.baseline, "now": self.now, "change_pct": self.change_pct,
                "ci95": list(self.ci) if self.ci else None,
                "ci_unit": "pp" if self.unit == "rate" else "%", "verdict": self.verdict}


@dataclass(slots=True)
class Comparison:
    baseline_name: str
    baseline_run: str
    run_id: str
    results: list[MetricResult]
    warnings: list[str] = field(default_factory=list)
    practical_pct: float = PRACTICAL_PCT

    def regressions(self, beyond_pct: float = 0.0) -> list[MetricResult]:
        return [r for r in self.results
                if r.verdict == REGRESSION and r.regression_pct > beyond_pct]

    def as_dict(self, fail_on_regression: float | None = None) -> dict[str, Any]:
        return {
            "baseline": {"name": self.baseline_name, "run_id": self.baseline_run},
            "run": {"id": self.run_id},
            "practical_threshold_pct": self.practical_pct,
            "confidence": 0.95,
            "resamples": bootstrap.RESAMPLES,
            "warnings": self.warnings,
            "metrics": [r.as_dict() for r in self.results],
            "counts": {v: sum(r.verdict == v for r in self.results)
                       for v in (REGRESSION, IMPROVEMENT, NO_CHANGE, NOT_COMPARABLE)},
            "fail_on_regression_pct": fail_on_regression,
        }


def _relative(spec: MetricSpec, base: float, now: np.ndarray | float) -> Any:
    denominator = max(base, ERROR_RATE_FLOOR) if spec.unit == "rate" else base
    return (np.asarray(now) - base) / denominator * 100.0


def _compare_metric(spec: MetricSpec, scenario: str, base_sc: dict[str, Any],
                    now_sc: dict[str, Any], base_iv: ScenarioIntervals,
                    now_iv: ScenarioIntervals, rng: np.random.Generator,
                    practical: float) -> MetricResult:
    base, now = spec.point(base_sc), spec.point(now_sc)
    result = MetricResult(scenario, spec.key, spec.unit, base, now, None, None, NOT_COMPARABLE)
    if base is None or now is None:
        return result
    if spec.unit != "rate" and base <= 0:
        return result
    change = float(_relative(spec, base, now))
    result.change_pct = change
    base_boot, now_boot = spec.boot(base_iv, rng), spec.boot(now_iv, rng)
    if base_boot is None or now_boot is None:
        return result
    # Change per pair of resamples: base and now are independent runs, so
    # pairing resample k of each is as good as any pairing. Error rates: the
    # difference in percentage points (its sign is that of the floored
    # relative change); others: the relative change in percent.
    if spec.unit == "rate":
        diff = (now_boot - base_boot) * 100.0
    else:
        diff = (now_boot - base_boot) / np.where(base_boot > 0, base_boot, np.nan) * 100.0
    diff = diff[np.isfinite(diff)]
    if diff.size < bootstrap.RESAMPLES // 2:
        return result
    lo, hi = (float(x) for x in np.percentile(diff, [2.5, 97.5]))
    result.ci = (lo, hi)
    significant = (lo > 0 or hi < 0) and abs(change) >= practical
    if change == 0 or not significant or math.isnan(change):
        result.verdict = NO_CHANGE
        return result
    worse = change > 0 if spec.higher_is_worse else change < 0
    result.verdict = REGRESSION if worse else IMPROVEMENT
    if worse:
        result.regression_pct = abs(change)
    return result


def compare_runs(base: RunData, now: RunData, *, baseline_name: str,
                 practical_pct: float = PRACTICAL_PCT) -> Comparison:
    rng = bootstrap.new_rng()
    results: list[MetricResult] = []
    warnings = methodology_warnings(base, now)
    only_base = sorted(set(base.scenarios) - set(now.scenarios))
    only_now = sorted(set(now.scenarios) - set(base.scenarios))
    if only_base:
        warnings.append(f"scenario(s) only in the baseline: {', '.join(only_base)}")
    if only_now:
        warnings.append(f"scenario(s) not in the baseline: {', '.join(only_now)}")
    for name in (s for s in now.scenarios if s in base.scenarios):
        base_iv, now_iv = base.intervals(name), now.intervals(name)
        for spec in METRICS:
            results.append(_compare_metric(spec, name, base.scenarios[name], now.scenarios[name],
                                           base_iv, now_iv, rng, practical_pct))
    return Comparison(baseline_name=baseline_name,
                      baseline_run=str(base.meta.get("run_id", base.path.name)),
                      run_id=str(now.meta.get("run_id", now.path.name)),
                      results=results, warnings=warnings, practical_pct=practical_pct)
