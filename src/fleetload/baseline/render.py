"""The printed form of a comparison."""

from __future__ import annotations

from fleetload.baseline.bootstrap import RESAMPLES
from fleetload.baseline.compare import (
    IMPROVEMENT,
    NO_CHANGE,
    NOT_COMPARABLE,
    REGRESSION,
    Comparison,
    MetricResult,
)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        if value >= 1000:
            return f"{value / 1000:.2f}s"
        return f"{value:.2f}ms" if value >= 1 else f"{value * 1000:.0f}µs"
    if unit == "rate":
        return f"{value * 100:.2f}%"
    return f"{value:,.1f}/s"


def format_change(r: MetricResult) -> str:
    if r.change_pct is None:
        return "-"
    if r.unit == "rate" and r.baseline is not None and r.now is not None:
        # Error rates read best in percentage points.
        return f"{(r.now - r.baseline) * 100:+.2f}pp"
    return f"{r.change_pct:+.1f}%"


def format_ci(r: MetricResult) -> str:
    if r.ci is None:
        return "-"
    lo, hi = r.ci
    if r.unit == "rate":
        return f"[{lo:+.2f}pp, {hi:+.2f}pp]"
    return f"[{lo:+.1f}%, {hi:+.1f}%]"


_LABEL = {REGRESSION: "REGRESSION", IMPROVEMENT: "improvement", NO_CHANGE: "no significant change",
          NOT_COMPARABLE: "not comparable"}


def render_comparison(cmp: Comparison, fail_on_regression: float | None = None) -> str:
    lines = [f"compare run {cmp.run_id} with baseline '{cmp.baseline_name}' "
             f"(run {cmp.baseline_run})", ""]
    for w in cmp.warnings:
        lines.append(f"  WARNING: methodology: {w}")
    if cmp.warnings:
        lines.append("")
    scenario = None
    for r in cmp.results:
        if r.scenario != scenario:
            scenario = r.scenario
            lines.append(f"  scenario {scenario}")
            lines.append(f"    {'metric':<24}{'baseline':>12}{'now':>12}{'change':>11}  "
                         f"{'95% CI of change':<20} verdict")
        lines.append(f"    {r.metric:<24}{format_value(r.baseline, r.unit):>12}"
                     f"{format_value(r.now, r.unit):>12}{format_change(r):>11}  "
                     f"{format_ci(r):<20} {_LABEL[r.verdict]}")
    if not cmp.results:
        lines.append("  no scenario in common: nothing to compare")
    lines.append("")
    counts = {v: sum(r.verdict == v for r in cmp.results) for v in _LABEL}
    lines.append(f"  significant = 95% CI ({RESAMPLES} bootstrap resamples of 1s intervals) "
                 f"excludes 0 and |change| >= {cmp.practical_pct:g}%")
    lines.append(f"  {counts[REGRESSION]} regression(s), {counts[IMPROVEMENT]} improvement(s), "
                 f"{counts[NO_CHANGE]} without significant change"
                 + (f", {counts[NOT_COMPARABLE]} not comparable" if counts[NOT_COMPARABLE] else ""))
    if fail_on_regression is not None:
        failing = cmp.regressions(fail_on_regression)
        verdict = (f"FAILED: {len(failing)} metric(s) regressed by more than "
                   f"{fail_on_regression:g}%" if failing else
                   f"passed: no metric regressed by more than {fail_on_regression:g}%")
        lines.append(f"  verdict: {verdict}")
    return "\n".join(lines) + "\n"
