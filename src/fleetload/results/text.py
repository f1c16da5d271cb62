"""The end-of-run text summary (``summary.txt`` and the terminal)."""

from __future__ import annotations

from typing import Any

from fleetload.durations import format_duration
from fleetload.results.failures import failure_lines
from fleetload.results.validity import validity_lines


def format_ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f}s"
    if v >= 1:
        return f"{v:.2f}ms"
    return f"{v * 1000:.0f}µs"


def _metric_line(name: str, m: dict[str, Any]) -> str:
    v = m["values"]
    kind = m["type"]
    if kind == "trend":
        fmt = format_ms if m["contains"] == "time" else (lambda x: f"{x:.3f}")
        body = " ".join(f"{k}={fmt(v[k])}" for k in ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")
                        if k in v)
    elif kind == "counter":
        unit = " B" if m["contains"] == "data" else ""
        body = f"{v['count']:,.0f}{unit}  {v['rate']:,.2f}{unit}/s"
    elif kind == "rate":
        total = v["passes"] + v["fails"]
        body = f"{100.0 * v['rate']:.2f}%  {v['passes']:,.0f} of {total:,.0f}"
    else:
        body = f"{v.get('value', 0):,.6g}  min={v.get('min', 0):,.6g} max={v.get('max', 0):,.6g}"
    return f"  {name + ' ':.<40} {body}"


def _contract(summary: dict[str, Any], scenario: str) -> str:
    """Verdict of the thresholds scoped to one scenario (``{scenario:name}``)."""
    scoped = [t for t in summary["thresholds"]
              if f"scenario:{scenario}," in t["metric"] or f"scenario:{scenario}}}" in t["metric"]]
    if not scoped:
        return "-"
    failed = sum(1 for t in scoped if not t["ok"])
    return f"FAILED ({failed} of {len(scoped)})" if failed else f"ok ({len(scoped)})"


def render_summary(summary: dict[str, Any], *, results_dir: str | None = None) -> str:
    lines: list[str] = []
    run = summary["run"]
    lines.append(f"  run {run['id']}  {run['source']}  {format_duration(run['elapsed'])}"
                 f"  workers={run['workers']}")
    if run.get("stopped_by"):
        lines.append(f"  stopped early: {run['stopped_by']}")
    if summary["thresholds"]:
        lines.append("")
        lines.append("  thresholds")
        for t in summary["thresholds"]:
            mark = "✓" if t["ok"] else "✗"
            seen = t["observed"]
            metric = summary["metrics"].get(t["metric"], {})
            is_time = metric.get("contains") == "time" and not t["threshold"].startswith("count")
            if seen is None:
                obs = "no samples"
            elif is_time:
                obs = format_ms(seen)
            else:
                obs = f"{seen:,.4g}"
            lines.append(f"  {mark} {t['metric']}  {t['threshold']}  (observed {obs})")
    lines.append("")
    metrics = summary["metrics"]
    for name in sorted(k for k in metrics if "{" not in k):
        lines.append(_metric_line(name, metrics[name]))
    lines.append("")
    lines.append("  per scenario")
    header = (f"  {'scenario':<22} {'iters':>9} {'it/s':>9} {'reqs':>9} {'failed':>7} "
              f"{'p50':>9} {'p95':>9} {'p99':>9} {'lat p99':>9} {'dropped':>8}  contract")
    lines.append(header)
    for name, sc in summary["scenarios"].items():
        d = sc["http_req_duration"] or sc["iteration_duration"] or {}
        lat = sc["http_req_latency"] or {}
        lines.append(
            f"  {name:<22} {sc['iterations']:>9,.0f} {sc['iteration_rate']:>9,.1f} "
            f"{sc['http_reqs']:>9,.0f} {100 * sc['http_req_failed_rate']:>6.2f}% "
            f"{format_ms(d.get('p50')):>9} {format_ms(d.get('p95')):>9} {format_ms(d.get('p99')):>9} "
            f"{format_ms(lat.get('p99')):>9} {sc['dropped_iterations']:>8,.0f}  "
            f"{_contract(summary, name)}")
    for name, sc in summary["scenarios"].items():
        sched = sc.get("schedule")
        if not sched:
            continue
        lag = sched["iteration_lag"] or {}
        state = "kept" if sched["kept"] else "NOT KEPT"
        why = []
        if sched["dropped_iterations"]:
            why.append(f"{sched['dropped_iterations']:,.0f} dropped (in-flight cap reached)")
        bound = sched.get("lag_bound_ms")
        if not sched["kept"] and lag.get("p99") is not None and bound is not None \
                and lag["p99"] > bound:
            why.append(f"start lag p99 {format_ms(lag.get('p99'))} above {format_ms(bound)}")
        lines.append(f"  schedule {name}: {state}; start lag p99 {format_ms(lag.get('p99'))}"
                     + (f" - {'; '.join(why)}" if why else ""))
        share = sched.get("generator_lag")
        if share:
            lines.append(f"  latency {name}: {share['text']}")
    for name, sc in summary["scenarios"].items():
        if sc.get("text"):
            lines.append("")
            lines.append(f"  {name}")
            lines.extend(f"  {line}" for line in sc["text"])
    for title, extra in (summary.get("text_sections") or {}).items():
        lines.append("")
        lines.append(f"  {title}")
        lines.extend(f"  {line}" for line in extra)
    for name, sc in summary["scenarios"].items():
        failures = sc.get("failures") or {}
        if failures.get("requests_failed") or failures.get("iteration_errors"):
            lines.append("")
            lines.append(f"  failures {name}")
            lines.extend(f"  {line}" for line in failure_lines(failures))
    loose = [e for e in summary["errors"] if not e.get("scenario")]
    if loose:
        lines.append("")
        lines.append("  iteration errors")
        for e in loose[:10]:
            lines.append(f"  {e['count']:>8,} x {e['error']}")
    validity = run.get("validity") or {}
    if validity_lines(validity):
        lines.append("")
        lines.extend(f"  {line}" for line in validity_lines(validity))
    lines.append("")
    verdict = run["verdict"]
    lines.append(f"  verdict: {verdict.upper()} (exit {run['exit_code']})")
    if results_dir:
        lines.append(f"  results: {results_dir}")
    return "\n".join(lines) + "\n"
