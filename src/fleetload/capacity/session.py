"""A whole ceiling search: baseline probe, steps with cooldown gating between
them, the search, the binding constraint, and ``ceiling.json`` + ``ceiling.html``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from fleetload.results import rundir

from . import chart
from .ceiling import (
    BREAKS_AT_FROM,
    FOUND,
    GENERATOR_BOUND,
    MAX_STEPS,
    NODE_LOST,
    SearchResult,
    SearchSettings,
    search,
)
from .constraint import Constraint, fmt_ms, name_constraint
from .health import HealthGate
from .steps import Step, StepSettings, lost_line, run_step

CEILING_JSON = "ceiling.json"
CEILING_HTML = "ceiling.html"


@dataclass
class CeilingOutcome:
    report: dict[str, Any]
    result: SearchResult
    constraint: Constraint | None
    json_path: Path
    html_path: Path


def step_line(s: Step) -> str:
    lat = s.latency_ms or {}
    extra = ""
    if s.broken:
        extra = "  broke " + ", ".join(f"{r.slo} (observed {r.observed:.4g})" if r.observed
                                       is not None else f"{r.slo} ({r.reason})" for r in s.broken)
    if s.reasons:
        extra += "  " + "; ".join(s.reasons)
    wait = ""
    if s.cooldown is not None:
        wait = f"  cooldown {s.cooldown.waited_s:.1f}s" + ("" if s.cooldown.recovered
                                                           else " (NOT recovered)")
    return (f"  step {s.index:>2}  {s.offered:>9.4g}/s  achieved {s.achieved_rps:>8.1f} req/s  "
            f"p50 {fmt_ms(lat.get('p50')):>7}  p95 {fmt_ms(lat.get('p95')):>7}  "
            f"p99 {fmt_ms(lat.get('p99')):>7}  err {s.error_rate:6.2%}  dropped {s.dropped:>5.0f}"
            f"  {s.verdict}{wait}{extra}")


def _broke(step: Step) -> str:
    return ", ".join(f"{r.slo} (observed {r.observed:.4g})" if r.observed is not None
                     else f"{r.slo} ({r.reason})" for r in step.broken)


def highest_measured(steps: Sequence[Step]) -> float | None:
    """The highest rate a step actually offered (iterations/s, from its summary);
    a step that lost a cluster node offered less than that and does not count."""
    return max((s.offered for s in steps if s.verdict != NODE_LOST), default=None)


def headline(result: SearchResult, constraint: Constraint | None) -> list[str]:
    """What the search found, never claiming beyond the rates it measured."""
    lines: list[str] = []
    good, bad, gen = result.good, result.bad, result.generator_bound
    if good is not None and bad is not None:
        lines.append(f"ceiling: {good.offered:g} iterations/s met every SLO "
                     f"({good.achieved_rps:.1f} req/s achieved, p99 {fmt_ms(good.p('p99'))})")
        lines.append(f"first break: {bad.offered:g} iterations/s broke {_broke(bad)}")
    elif good is not None:
        top = highest_measured(result.steps)
        which = ("the highest step run" if top is None or good.offered >= top
                 else "the highest step the generator delivered")
        if result.node_lost is not None and (top is None or good.offered >= top):
            which = "the highest step run in full"
        lines.append(f"no SLO broke up to {good.offered:g} iterations/s, {which} "
                     f"({good.achieved_rps:.1f} req/s achieved, p99 {fmt_ms(good.p('p99'))}): "
                     "the ceiling is at or above it")
    elif bad is not None:
        lines.append(f"the first step ({bad.offered:g} iterations/s) already broke "
                     f"{_broke(bad)}: lower --from")
    if gen is not None:
        lines.append(f"generator-bound at {gen.offered:g}/s: {'; '.join(gen.reasons)}. "
                     "This is fleetload's limit, not the target's: the target's ceiling is "
                     + (f"at or above {good.offered:g}/s" if good is not None else "unknown")
                     + (f" and below {bad.offered:g}/s" if bad is not None else ""))
    lost = result.node_lost
    if lost is not None:
        lines.append(f"node lost at {lost.offered:g}/s: that step did not offer its load and "
                     "judges nothing; the target's ceiling is "
                     + (f"at or above {good.offered:g}/s" if good is not None else "unknown")
                     + (f" and below {bad.offered:g}/s" if bad is not None else ""))
    lines.append(f"the search stopped because {result.stop_reason}")
    if constraint is not None:
        lines.append(f"binding constraint: {constraint.text}")
    return lines


async def run_ceiling(search_settings: SearchSettings, step_settings: StepSettings,
                      gate: HealthGate | None, *, script: str, argv: list[str],
                      out: TextIO | None = None) -> CeilingOutcome:
    stream = out or sys.stderr
    step_settings.out_dir.mkdir(parents=True, exist_ok=True)
    baseline = None
    if gate is not None:
        baseline = await gate.measure_baseline()
        if baseline.ok:
            print(f"health {gate.display}: baseline probe {baseline.median_ms:.2f} ms; recovered "
                  f"means 2xx and probes <= {gate.limit_ms:.2f} ms", file=stream, flush=True)
        else:
            print(f"health {gate.display}: not healthy before the first step "
                  f"({baseline.error or baseline.status}); waiting", file=stream, flush=True)
    counter = {"n": 0}

    async def one(rate: float) -> Step:
        index = counter["n"]
        counter["n"] += 1
        cooldown = None
        if gate is not None and (index > 0 or not baseline or not baseline.ok):
            cooldown = await gate.wait_recovered()
        return await run_step(step_settings, index, rate, cooldown=cooldown)

    def show(s: Any) -> None:
        print(step_line(s), file=stream, flush=True)

    cluster = step_settings.cluster
    if cluster is None:
        result = await search(search_settings, one, on_step=show)
    else:  # one connection to the cluster for every step
        from fleetload.cluster.connection import shared_connection

        with shared_connection(cluster.address, step_settings.recipe.script):
            result = await search(search_settings, one, on_step=show)
    constraint = None
    if result.bad is not None and result.status in (FOUND, MAX_STEPS, BREAKS_AT_FROM,
                                                    GENERATOR_BOUND, NODE_LOST):
        constraint = name_constraint(result.good, result.bad)
    report = build_report(result, search_settings, step_settings, constraint, gate,
                          script=script, argv=argv)
    json_path = step_settings.out_dir / CEILING_JSON
    html_path = step_settings.out_dir / CEILING_HTML
    rundir.write_json(json_path, report)
    html_path.write_text(chart.render(report), encoding="utf-8")
    return CeilingOutcome(report, result, constraint, json_path, html_path)


def build_report(result: SearchResult, search_settings: SearchSettings, st: StepSettings,
                 constraint: Constraint | None, gate: HealthGate | None, *, script: str,
                 argv: list[str]) -> dict[str, Any]:
    good, bad, gen = result.good, result.bad, result.generator_bound
    slos = []
    for slo in st.slos:
        t = slo.threshold
        slos.append({"slo": slo.label, "metric": str(slo.selector), "threshold": t.value,
                     "expression": t.source,
                     "latency_line": slo.selector.metric == "http_req_duration" and t.op in ("<", "<=")})
    return {
        "script": script,
        "command": argv,
        "status": result.status,
        "stop_reason": result.stop_reason,
        "rate_unit": "iterations/s",
        "highest_rate_measured": highest_measured(result.steps),
        "ceiling_rate": good.offered if good else None,
        "ceiling_is_lower_bound": good is not None and bad is None,
        "ceiling_achieved_rps": good.achieved_rps if good else None,
        "first_bad_rate": bad.offered if bad else None,
        "broken_slos": [r.slo for r in bad.broken] if bad else [],
        "generator_bound_rate": gen.offered if gen else None,
        "generator_reasons": gen.reasons if gen else [],
        "constraint": constraint.to_json() if constraint else None,
        "headline": headline(result, constraint),
        "slos": slos,
        "search": {"from": search_settings.from_rate, "to": search_settings.to_rate,
                   "factor": search_settings.factor, "precision": search_settings.precision,
                   "max_steps": search_settings.max_steps, "warmup_s": st.warmup,
                   "window_s": st.window, "workers": st.workers},
        "health": gate.to_json() if gate else None,
        "cluster": cluster_report(result.steps, st),
        "steps": [s.to_json() for s in result.steps],
    }


def cluster_report(steps: Sequence[Step], st: StepSettings) -> dict[str, Any] | None:
    """Where a ceiling on a cluster ran: the nodes of its first step, and each
    node lost. Every step asks for as many nodes, but which node holds which
    workers may change from step to step: each step lists its own, and a lost
    node is named by its id too."""
    if st.cluster is None:
        return None
    nodes = steps[0].nodes if steps else []
    lost = [dict(n, step=s.index, rate=s.rate) for s in steps for n in s.lost_nodes]
    return {"address": st.cluster.address, "nodes": nodes, "node_count": len(nodes),
            "workers_per_node": st.workers, "lease_s": st.cluster.lease,
            "on_node_loss": st.cluster.on_node_loss, "lost_nodes": lost}


def cluster_line(report: dict[str, Any]) -> str | None:
    cluster = report.get("cluster")
    if not cluster:
        return None
    names = ", ".join(f"{n.get('hostname', '?')} ({n.get('address', '?')})"
                      for n in cluster["nodes"])
    line = (f"cluster {cluster['address']}: {cluster['node_count']} nodes x "
            f"{cluster['workers_per_node']} worker(s): {names}")
    for n in cluster["lost_nodes"]:
        line += f"\n  lost in step {n['step']} ({n['rate']:g}/s): {lost_line(n)}"
    return line


def render_text(outcome: CeilingOutcome) -> str:
    lines = ["", "fleetload ceiling " + str(outcome.report["script"]), ""]
    where = cluster_line(outcome.report)
    if where is not None:
        lines.extend([where, ""])
    for s in sorted(outcome.result.steps, key=lambda s: s.offered):
        lines.append(step_line(s))
    lines.append("")
    lines.extend(outcome.report["headline"])
    if outcome.constraint is not None and len(outcome.constraint.findings) > 1:
        for f in outcome.constraint.findings[1:]:
            lines.append(f"  also: {f.text}")
    lines.append(f"results: {outcome.json_path}  chart: {outcome.html_path}")
    return "\n".join(lines) + "\n"


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
