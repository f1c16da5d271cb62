"""The HTML report's tables: thresholds, scenarios, failures, run validity,
methodology. Rendered on the server side, so they read with scripts disabled."""

from __future__ import annotations

import html
import json
import math
import shlex
from typing import Any

from fleetload.results.failures import rate_limit_line
from fleetload.results.text import format_ms


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) \
        else None


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    def cells(tag: str, values: list[str]) -> str:
        return "".join(f"<{tag}{' class=l' if i < left else ''}>{v}</{tag}>"
                       for i, v in enumerate(values))
    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


def thresholds(summary: dict[str, Any]) -> str:
    rows = []
    for t in summary.get("thresholds") or []:
        observed = t.get("observed")
        verdict = '<span class="ok">✓ passed</span>' if t.get("ok") else '<span class="bad">✗ failed</span>'
        rows.append([esc(t.get("metric")), esc(t.get("threshold")),
                     esc(f"{observed:g}" if isinstance(observed, int | float) else "-"),
                     verdict + (f" ({esc(t['reason'])})" if t.get("reason") else "")])
    if not rows:
        return "<p>No thresholds were defined.</p>"
    return table(["metric", "threshold", "observed", "verdict"], rows, left=2)


def scenarios(summary: dict[str, Any]) -> str:
    rows = []
    for name, sc in (summary.get("scenarios") or {}).items():
        d, lat = sc.get("http_req_duration") or {}, sc.get("http_req_latency") or {}
        sched = sc.get("schedule")
        kept = "-" if not sched else ('<span class="ok">kept</span>' if sched.get("kept")
                                      else '<span class="bad">NOT kept</span>')
        rows.append([esc(name), esc(sc.get("description", sc.get("executor", ""))),
                     f"{sc.get('iterations', 0):,.0f}", f"{sc.get('iteration_rate', 0):,.1f}",
                     f"{sc.get('http_reqs', 0):,.0f}", f"{100 * sc.get('http_req_failed_rate', 0):.2f}%",
                     *(esc(format_ms(d.get(p))) for p in ("p50", "p95", "p99", "p99.9", "max")),
                     esc(format_ms(lat.get("p99"))),
                     esc(format_ms(((sched or {}).get("iteration_lag") or {}).get("p99"))),
                     f"{sc.get('dropped_iterations', 0):,.0f}", kept])
    return table(["scenario", "executor", "iterations", "it/s", "requests", "failed", "p50", "p95",
                   "p99", "p99.9", "max", "latency p99", "own lag p99", "dropped", "schedule"],
                 rows, left=2) + generator_lag(summary)


def generator_lag(summary: dict[str, Any]) -> str:
    """Per open-loop scenario: the corrected latency's p99 and how much of it
    is fleetload's own scheduling lag."""
    lines = [f"<li>{esc(name)}: {esc(share['text'])}</li>"
             for name, sc in (summary.get("scenarios") or {}).items()
             if (share := (sc.get("schedule") or {}).get("generator_lag"))]
    if not lines:
        return ""
    return f'<ul class="generator-lag">{"".join(lines)}</ul>'


def errors(summary: dict[str, Any]) -> str:
    """Iteration errors not attributed to a scenario (the failures table lists the rest)."""
    errors = [e for e in summary.get("errors") or [] if not e.get("scenario")]
    if not errors:
        return ""
    rows = [[esc(e.get("error")), f"{e.get('count', 0):,}"] for e in errors[:20]]
    more = f"<p>{len(errors) - 20} more in summary.json</p>" if len(errors) > 20 else ""
    return "<h2>Iteration errors</h2>" + table(["error", "count"], rows) + more


def methodology(meta: dict[str, Any]) -> str:
    host = meta.get("host") or {}
    git = meta.get("git") or {}
    items: list[tuple[str, Any]] = [
        ("source", meta.get("source")), ("target", meta.get("target")),
        ("target version", meta.get("target_version")),
        ("started", meta.get("started_at")), ("ended", meta.get("ended_at")),
        ("duration", f"{meta['duration_s']}s" if "duration_s" in meta else None),
        ("command", "fleetload " + shlex.join(str(a) for a in meta.get("command") or [])),
        ("git", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}" if git else None),
        ("workers", meta.get("workers")),
        *((f"host {k.replace('_', ' ')}", v) for k, v in host.items()),
        ("client", meta.get("client")), ("env keys", meta.get("env_keys")),
        *((f"scenario {k}", v) for k, v in (meta.get("scenarios") or {}).items()),
        ("thresholds", meta.get("thresholds")), ("observers", meta.get("observers")),
        ("observation failures", meta.get("observation_failures")),
    ]
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v if isinstance(v, str) else json.dumps(v))}</dd>"
                   for k, v in items if v not in (None, "", [], {}))
    return f'<dl class="meta">{body}</dl>'


def kpis(summary: dict[str, Any]) -> str:
    metrics = summary.get("metrics") or {}
    run = summary.get("run") or {}

    def value(name: str, key: str) -> float | None:
        return _num(((metrics.get(name) or {}).get("values") or {}).get(key))

    reqs, rate, failed = value("http_reqs", "count"), value("http_reqs", "rate"), value("http_req_failed", "rate")
    kpis = [("duration", f"{float(run.get('elapsed') or 0):.1f}s"),
            ("requests", f"{reqs:,.0f}" if reqs is not None else "-"),
            ("requests/s", f"{rate:,.1f}" if rate is not None else "-"),
            ("failed", f"{100 * failed:.2f}%" if failed is not None else "-"),
            ("p95", format_ms(value("http_req_duration", "p(95)"))),
            ("p99", format_ms(value("http_req_duration", "p(99)"))),
            ("dropped", f"{value('dropped_iterations', 'count') or 0:,.0f}")]
    return '<div class="kpis">' + "".join(f"<div class=kpi><b>{esc(v)}</b><span>{esc(k)}</span></div>"
                                          for k, v in kpis) + "</div>"




def validity(summary: dict[str, Any]) -> str:
    """The run's validity: why it is inconclusive, and the warnings."""
    v = (summary.get("run") or {}).get("validity") or {}
    parts = []
    if v.get("reasons"):
        allowed = " (allowed by --allow-inconclusive)" if v.get("allowed") else ""
        items = "".join(f"<li>{esc(r)}</li>" for r in v["reasons"])
        parts.append(f'<div class="validity bad"><b>Run not valid: it did not deliver the load '
                     f"asked for{esc(allowed)}</b><ul>{items}</ul></div>")
    if v.get("warnings"):
        items = "".join(f"<li>{esc(w)}</li>" for w in v["warnings"])
        parts.append(f'<div class="validity"><b>Warnings</b><ul>{items}</ul></div>')
    return "".join(parts)


def failures(summary: dict[str, Any]) -> str:
    """Failed requests by reason per scenario, with snippets; iteration errors."""
    rows = []
    for name, sc in (summary.get("scenarios") or {}).items():
        f = sc.get("failures") or {}
        for r in f.get("reasons") or []:
            snippets = "<br>".join(f"<code>{esc(s)}</code>" for s in r.get("samples") or [])
            after = f"Retry-After {esc(r['retry_after'])}" if r.get("retry_after") else ""
            rows.append([esc(name), esc(r["reason"]), f"{r['count']:,.0f}",
                         f"{100 * r['share']:.1f}%", f"{100 * r['rate']:.2f}%", after, snippets])
        for e in f.get("iteration_errors") or []:
            rows.append([esc(name), esc("iteration raised"), f"{e['count']:,}", "", "", "",
                         f"<code>{esc(e['error'])}</code>"])
    if not rows:
        return ""
    notes = "".join(f"<p class=bad>{esc(name)}: {esc(line)}</p>"
                    for name, sc in (summary.get("scenarios") or {}).items()
                    if (line := rate_limit_line(sc.get("failures") or {})))
    return ("<h2>Failures</h2>" + notes
            + table(["scenario", "reason", "count", "of failures", "of requests", "", "first responses"],
                    rows, left=2))
