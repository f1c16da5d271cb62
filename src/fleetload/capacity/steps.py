"""One ceiling step: a run at a fixed open-loop rate, read back and judged.

The step is ``warmup + window`` seconds of the script's arrival-rate scenarios
at the step's rate (the ``--rate`` override), as one ordinary run with its own
run directory under the ceiling's output directory. SLOs are judged on the
window only (:mod:`fleetload.capacity.slo`).

A step has one of three verdicts:

* ``ok`` — every SLO held and the generator delivered the load;
* ``breaks`` — an SLO broke: the target's side of the story;
* ``generator-bound`` — the generator could not offer the load honestly, so the
  step says nothing about the target, whatever its latencies: fleetload's CPU
  (the busiest process: one event loop is one core) was saturated, its
  scheduler ran late while its CPU was busy, or iterations were dropped by the in-flight cap while the
  target still met every SLO (the cap, not the target, was the limit);
* ``node-lost`` — on a cluster (``--cluster``), a node was lost during the
  step: the load asked for was not offered, so the step judges nothing.

On a cluster the busiest process's CPU is the one the workers measure
themselves (the timeline's ``cpu``, the busiest of every node's processes):
the driver's own processes are not the generator.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fleetload.cluster.options import ClusterOptions
from fleetload.results.observations import Observer
from fleetload.run import RunConfig, run_test
from fleetload.script.recipe import PlanRecipe

from .health import CooldownResult
from .observe import build_observers, generator_observer
from .observe.process import GENERATOR
from .slo import SLO, SLOResult, evaluate_slos
from .window import SeriesStats, Window

OK, BREAKS, GENERATOR_BOUND, NODE_LOST = "ok", "breaks", "generator-bound", "node-lost"


@dataclass(frozen=True)
class StepSettings:
    recipe: PlanRecipe  # the script with the user's overrides; rate and duration are set per step
    slos: tuple[SLO, ...]
    warmup: float
    window: float
    out_dir: Path
    workers: int = 1  # per node on a cluster
    observe: tuple[str, ...] = ()
    generator_cpu_limit: float = 90.0  # % of one core, busiest generator process
    lag_limit_ms: float = 100.0  # scheduler lag p99 (summary's "behind schedule" line)
    drop_limit: float = 0.01  # fraction of scheduled iterations
    cluster: ClusterOptions | None = None  # every step runs on this Ray cluster


@dataclass
class Step:
    index: int
    rate: float
    offered: float
    achieved_rps: float
    achieved_iterations: float
    latency_ms: dict[str, float] | None  # http_req_duration p50/p95/p99/max in the window
    corrected_p99_ms: float | None  # http_req_latency p99 (from the intended start)
    requests: float
    errors: float  # failed requests + iterations cut off at the graceful stop
    error_rate: float
    dropped: float
    dropped_frac: float
    lag_p99_ms: float
    generator_cpu_pct: float | None  # mean of the busiest generator process
    slos: list[SLOResult]
    verdict: str
    reasons: list[str]  # why the generator was the limit, or which node was lost
    run_dir: Path
    observations: dict[str, dict[str, SeriesStats]] = field(default_factory=dict)
    cooldown: CooldownResult | None = None
    nodes: list[dict[str, Any]] = field(default_factory=list)
    """on a cluster: the nodes that ran the step (node, id, address, hostname)"""
    lost_nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def broken(self) -> list[SLOResult]:
        return [r for r in self.slos if not r.ok]

    def p(self, key: str) -> float | None:
        return self.latency_ms.get(key) if self.latency_ms else None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "rate": self.rate, "offered_rate": self.offered,
            "achieved_rps": self.achieved_rps, "achieved_iterations": self.achieved_iterations,
            "latency_ms": self.latency_ms, "corrected_p99_ms": self.corrected_p99_ms,
            "requests": self.requests, "errors": self.errors, "error_rate": self.error_rate,
            "dropped": self.dropped, "dropped_frac": self.dropped_frac,
            "lag_p99_ms": self.lag_p99_ms, "generator_cpu_pct": self.generator_cpu_pct,
            "slos": [r.to_json() for r in self.slos], "verdict": self.verdict,
            "generator_reasons": self.reasons, "run_dir": str(self.run_dir),
            "cooldown": self.cooldown.to_json() if self.cooldown else None,
            "observations": {src: {k: s.to_json() for k, s in vals.items()}
                             for src, vals in self.observations.items()},
            **({"nodes": self.nodes, "lost_nodes": self.lost_nodes} if self.nodes else {}),
        }


def offered_rate(summary: dict[str, Any]) -> float:
    """Iterations per second the open-loop scenarios were scheduled to start."""
    total = 0.0
    for sc in summary.get("scenarios", {}).values():
        opts = sc.get("options", {})
        if sc.get("executor") == "constant-arrival-rate":
            total += float(opts.get("rate", 0.0)) / float(opts.get("time_unit", 1.0) or 1.0)
    return total


def _rusage() -> tuple[float, float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, once reaped
    return (time.perf_counter(), me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime)


def _run_cpu_pct(before: tuple[float, float, float], after: tuple[float, float, float],
                 workers: int) -> float:
    """Mean CPU % of one generator process over the whole step (warm-up included)."""
    wall = max(after[0] - before[0], 1e-9)
    if workers == 1:
        return 100.0 * (after[1] - before[1]) / wall
    return 100.0 * (after[2] - before[2]) / wall / workers


def workers_cpu_pct(window: Window) -> float | None:
    """Mean over the window of the busiest worker process's CPU (% of a core),
    as the workers measured it (on a cluster, the busiest of every node's)."""
    values = [float(r["cpu"]) for r in window.rows if r.get("cpu") is not None]
    return 100.0 * sum(values) / len(values) if values else None


def node_summary(node: dict[str, Any]) -> dict[str, Any]:
    return {k: node[k] for k in ("node", "id", "address", "hostname", "workers") if k in node}


def lost_line(lost: dict[str, Any]) -> str:
    return f"node {lost['node']} ({lost['address']}) lost: {lost['reason']}"


def judge(settings: StepSettings, slos: Sequence[SLOResult], *, gen_cpu: float | None,
          lag_p99_ms: float, dropped_frac: float, max_in_flight: Sequence[int]) -> tuple[str, list[str]]:
    reasons: list[str] = []
    if gen_cpu is not None and gen_cpu >= settings.generator_cpu_limit:
        reasons.append(f"generator CPU {gen_cpu:.0f}% of a core (limit "
                       f"{settings.generator_cpu_limit:.0f}%): add --workers or a second machine")
    # Scheduler lag alone is not proof: an overloaded target makes the generator
    # open thousands of connections at once and the lag spikes with its CPU
    # far from saturated (seen at 11 % here). It counts when the CPU is high too.
    busy = gen_cpu is not None and gen_cpu >= settings.generator_cpu_limit / 2
    if lag_p99_ms > settings.lag_limit_ms and busy and not reasons:
        reasons.append(f"scheduler lag p99 {lag_p99_ms:.0f} ms with generator CPU {gen_cpu:.0f}%: "
                       "iterations started late")
    slo_ok = all(r.ok for r in slos)
    if dropped_frac > settings.drop_limit and slo_ok:
        cap = "/".join(str(c) for c in max_in_flight) or "?"
        reasons.append(f"{dropped_frac:.1%} of iterations dropped at the in-flight cap "
                       f"(max_in_flight {cap}) while the target met every SLO: raise max_in_flight")
    if reasons:
        return GENERATOR_BOUND, reasons
    return (OK if slo_ok else BREAKS), reasons


async def run_step(settings: StepSettings, index: int, rate: float, *,
                   cooldown: CooldownResult | None = None) -> Step:
    base = settings.recipe
    recipe = replace(base, overrides=replace(base.overrides, rate=rate,
                                             duration=settings.warmup + settings.window))
    # On a cluster the generator is not this machine's processes: the workers say.
    local = [generator_observer()] if settings.cluster is None else []
    observers: list[Observer] = [*build_observers(settings.observe), *local]
    run_dir = settings.out_dir / "steps" / f"{index:02d}-rate-{rate:g}"
    cfg = RunConfig(workers=settings.workers, out=run_dir, quiet=True, observers=observers,
                    preflight=index == 0, argv=["ceiling-step", f"--rate={rate:g}"],
                    cluster=settings.cluster)
    before = _rusage()
    outcome = await run_test(recipe, cfg)
    run_cpu = _run_cpu_pct(before, _rusage(), settings.workers)
    summary = outcome.summary
    window = Window.load(outcome.run_dir, settings.warmup, settings.window)
    scenarios = summary.get("scenarios", {}).values()
    window.interrupted = sum(float(s.get("interrupted_iterations", 0.0)) for s in scenarios)
    slo_results = evaluate_slos(settings.slos, window, summary)
    observations = window.observations()
    gen = observations.pop(GENERATOR, {})
    if settings.cluster is None:
        # A saturated generator starves its own observer (samples time out), so the
        # whole run's CPU from getrusage is a floor the observer cannot miss.
        sampled = gen["cpu_max_pct"].mean if "cpu_max_pct" in gen else None
        gen_cpu: float | None = max(sampled or 0.0, run_cpu)
    else:
        gen_cpu = workers_cpu_pct(window)
    offered = offered_rate(summary) or rate
    scheduled = offered * settings.window
    dropped = window.dropped()
    dropped_frac = dropped / scheduled if scheduled > 0 else 0.0
    lag = window.lag_p99_ms()
    caps = [int(s.get("options", {}).get("max_in_flight", 0)) for s in scenarios
            if s.get("executor") == "constant-arrival-rate"]
    verdict, reasons = judge(settings, slo_results, gen_cpu=gen_cpu, lag_p99_ms=lag,
                             dropped_frac=dropped_frac, max_in_flight=caps)
    lost = list(summary.get("run", {}).get("lost_nodes", []))
    if lost:  # the load asked for was not offered: the step judges nothing
        verdict, reasons = NODE_LOST, [lost_line(n) for n in lost]
    requests = window.requests()
    errors = window.failed() + window.interrupted
    corrected = window.percentiles_ms("http_req_latency")
    return Step(
        index=index, rate=rate, offered=offered, achieved_rps=window.achieved_rps(),
        achieved_iterations=window.achieved_iterations(),
        latency_ms=window.percentiles_ms(), corrected_p99_ms=corrected["p99"] if corrected else None,
        requests=requests, errors=errors,
        error_rate=errors / (requests + window.interrupted) if requests + window.interrupted else 0.0,
        dropped=dropped, dropped_frac=dropped_frac, lag_p99_ms=lag, generator_cpu_pct=gen_cpu,
        slos=slo_results, verdict=verdict, reasons=reasons, run_dir=outcome.run_dir,
        observations=observations, cooldown=cooldown,
        nodes=[node_summary(n) for n in summary.get("meta", {}).get("nodes", [])],
        lost_nodes=lost)
