"""One test run from start to results: preflight, run directory, outputs,
signals, setup and teardown, the workers, and the end of the run.

Data flows one way: the workers' interval snapshots are merged in order by
the :class:`~fleetload.engine.aggregator.RunAggregator`, each merged interval
goes to every output (:mod:`fleetload.outputs`), and at the end the summary,
the verdict and the text go to the outputs' ``stop``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

from fleetload.cluster.options import ClusterReport
from fleetload.engine.aggregator import RunAggregator
from fleetload.engine.plan import Plan
from fleetload.errors import ConfigError, ExitCode, FleetloadError
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.metrics.thresholds import evaluate
from fleetload.outputs.abort import AbortOnFail
from fleetload.outputs.base import Interval, Output, RunEnd, RunStart, ScenarioInfo, WithRunControl
from fleetload.outputs.console import live_output
from fleetload.outputs.files import RunFiles
from fleetload.outputs.intervals import HlogOutput, TimelineOutput
from fleetload.protocols.http.options import new_client
from fleetload.results import rundir
from fleetload.results.meta import iso
from fleetload.results.observations import OBSERVATIONS, ObservationRecorder
from fleetload.results.summary import SummaryView, build_summary
from fleetload.results.text import render_summary
from fleetload.results.timeline import interval_row
from fleetload.results.validity import assess
from fleetload.run import workers
from fleetload.run.config import RunConfig, RunOutcome
from fleetload.run.meta import build_meta, oneliner_url
from fleetload.run.preflight import preflight
from fleetload.run.schedule import max_duration, planned_duration, scheduled_rate
from fleetload.run.verdict import decide
from fleetload.script.recipe import PlanRecipe


class SetupContext:
    """What ``setup()`` and ``teardown()`` get: an HTTP client and the env."""

    def __init__(self, plan: Plan, run_id: str) -> None:
        self.http = new_client(plan.client)
        self.env = plan.env
        self.run_id = run_id


class Run:
    def __init__(self, plan: Plan, recipe: PlanRecipe, cfg: RunConfig) -> None:
        self.plan = plan
        self.recipe = recipe
        self.cfg = cfg
        self.run_id = rundir.new_run_id()
        self.aggregate = Aggregate()
        for info in plan.metrics.values():
            self.aggregate.register(info)
        self.aggregator = RunAggregator(cfg.workers, self.aggregate)
        self.aggregator.observers.append(self._on_interval)
        self.stopped_by: str | None = None
        self.interrupts = 0
        self.controls = workers.Controls()
        self.status: dict[str, dict[str, float]] = {}  # executor live numbers per scenario
        self.cpu: list[float] = []  # busiest worker's CPU per interval, fraction of a core
        self.outputs: list[Output] = []
        self._failed_outputs: set[int] = set()
        self._recorder: ObservationRecorder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cluster: ClusterReport | None = None  # nodes and lost nodes of a --cluster run

    # -- control (RunControl) -----------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Graceful: safe from any thread (outputs run off the event loop)."""
        if self.stopped_by is None:
            self.stopped_by = reason
        stop = self.controls.stop
        if stop is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(stop)

    def request_abort(self, reason: str) -> None:
        self.stopped_by = reason
        abort = self.controls.abort
        if abort is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(abort)

    def _on_sigint(self) -> None:
        self.interrupts += 1
        out = self.cfg.stream or sys.stderr
        if self.interrupts == 1:
            print("\nstopping gracefully (Ctrl-C again to abort at once)...", file=out, flush=True)
            self.request_stop("interrupted (Ctrl-C)")
        else:
            print("\naborting...", file=out, flush=True)
            self.request_abort("aborted (second Ctrl-C)")

    # -- outputs --------------------------------------------------------------------------
    def _build_outputs(self) -> list[Output]:
        cfg, plan = self.cfg, self.plan
        outputs: list[Output] = [RunFiles(cfg.summary_export), HlogOutput(), TimelineOutput(),
                                 live_output(every=cfg.stats_interval, out=cfg.stream,
                                             quiet=cfg.quiet,
                                             formatters={s.name: s.executor.format_status
                                                         for s in plan.scenarios})]
        if AbortOnFail.wanted(plan.thresholds):
            outputs.append(AbortOnFail(plan.thresholds))
        outputs.extend(cfg.outputs)
        for o in outputs:
            if isinstance(o, WithRunControl):
                o.set_run_control(self)
        return outputs

    def _on_interval(self, snap: IntervalSnapshot, agg: Aggregate) -> None:
        """Every merged interval, in order (on the merging thread)."""
        row = interval_row(snap)
        for name, sc in row["scenarios"].items():
            if "status" in sc:
                self.status[name] = sc["status"]
        if row.get("cpu") is not None:
            self.cpu.append(row["cpu"])
        interval = Interval(snap, agg, row, scheduled_rate(self.plan, snap.end))
        for i, o in enumerate(self.outputs):
            if i in self._failed_outputs:
                continue
            try:
                o.add_interval(interval)
            except Exception as exc:
                self._failed_outputs.add(i)
                print(f"fleetload: warning: output {o.description()} failed and was switched "
                      f"off: {type(exc).__name__}: {exc}", file=self.cfg.stream or sys.stderr,
                      flush=True)

    # -- the run ------------------------------------------------------------------------
    async def execute(self) -> RunOutcome:
        cfg, plan = self.cfg, self.plan
        out = cfg.stream or sys.stderr
        version = None
        if cfg.preflight:
            version = await preflight(plan.client, plan.client.target or oneliner_url(self.recipe))
        run_dir = rundir.create_run_dir(self.run_id, out=cfg.out, root=cfg.results_root)
        start_wall = time.time()
        meta = build_meta(self.run_id, plan, self.recipe, cfg, start_wall=start_wall,
                          target_version=version)
        planned = planned_duration(plan)
        self.outputs = self._build_outputs()
        start = RunStart(
            run_id=self.run_id, run_dir=run_dir, source=meta["source"], start_wall=start_wall,
            planned=planned, meta=meta, thresholds=meta["thresholds"],
            scenarios=[ScenarioInfo(s.name, s.executor.kind, s.executor.describe(),
                                    s.executor.open_loop) for s in plan.scenarios])
        started: list[Output] = []
        end: RunEnd | None = None
        try:
            for o in self.outputs:
                o.start(start)
                started.append(o)
            if not cfg.quiet:
                print(f"fleetload run {self.run_id}: {plan.source} - {len(plan.scenarios)} "
                      f"scenario(s), up to {planned:g}s, {cfg.workers} worker(s)", file=out,
                      flush=True)
                for s in plan.scenarios:
                    print(f"  {s.name}: {s.executor.describe()}", file=out, flush=True)
            await self._run_hooks_and_workers(run_dir)
            end = self._finish(meta, start_wall, time.time(), run_dir)
        finally:
            for o in started:
                o.stop(end)
        assert end is not None
        return RunOutcome(end.exit_code, run_dir, dict(end.summary), end.text)

    async def _run_hooks_and_workers(self, run_dir: Path) -> None:
        plan = self.plan
        loop = self._loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError):
            pass
        setup_ctx = SetupContext(plan, self.run_id)
        try:
            setup_data = await plan.setup(setup_ctx) if plan.setup is not None else None
            await self._run_workers(setup_data, run_dir)
            if plan.teardown is not None:
                await plan.teardown(setup_ctx, setup_data)
        finally:
            if self._recorder is not None:
                await self._recorder.stop()
            await setup_ctx.http.close()
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError):
                pass
            self.aggregator.finish()

    async def _run_workers(self, setup_data: Any, run_dir: Path) -> None:
        cfg = self.cfg
        deadline = max_duration(self.plan) + workers.SAFETY_MARGIN

        def on_start(start_at: float) -> None:
            # Server-side samples on the workers' clock: t=0 is the run's start.
            if cfg.observers:
                self._recorder = ObservationRecorder(run_dir / OBSERVATIONS, cfg.observers,
                                                     t0=start_at)
                self._recorder.start()

        def overrun() -> None:
            self.request_abort("exceeded the planned duration plus graceful stop")

        if cfg.cluster is not None:
            def nodes(n: int) -> None:  # the aggregator merges one stream per node
                self.aggregator = RunAggregator(n, self.aggregate)
                self.aggregator.observers.append(self._on_interval)

            self.cluster = await workers.run_on_cluster(
                self.plan, self.recipe, self.run_id, cfg.cluster, cfg.workers, cfg.interval,
                setup_data, lambda i, snap: self.aggregator.add(i, snap),
                lambda i: self.aggregator.worker_exited(i), self.controls, on_start, deadline,
                overrun, on_nodes=nodes, on_node_lost=self.request_stop)
        elif cfg.workers == 1:
            await workers.run_in_process(self.plan, self.run_id, cfg.interval, setup_data,
                                         self.aggregator.add, self.controls, on_start,
                                         deadline, overrun)
        else:
            await workers.run_in_pool(self.recipe, self.run_id, cfg.workers, cfg.interval,
                                      setup_data, self.aggregator.add,
                                      self.aggregator.worker_exited, self.controls, on_start,
                                      deadline, overrun)

    def _finish(self, meta: dict[str, Any], start_wall: float, end_wall: float,
                run_dir: Path) -> RunEnd:
        plan, cfg = self.plan, self.cfg
        evaluation = evaluate(plan.thresholds, self.aggregate)
        meta = dict(meta, ended_at=iso(end_wall), duration_s=round(end_wall - start_wall, 3))
        if self.cluster is not None:
            meta["nodes"] = self.cluster.nodes
        recorder = self._recorder
        if recorder is not None and recorder.failures:
            meta["observation_failures"] = {
                src: {"count": n, "last_error": recorder.last_error.get(src, "")}
                for src, n in recorder.failures.items()}
        run: dict[str, Any] = {
            "id": self.run_id, "source": meta["source"], "verdict": "passed", "exit_code": 0,
            "elapsed": self.aggregate.elapsed, "workers": cfg.workers,
            "stopped_by": self.stopped_by, "started_at": meta["started_at"],
            "ended_at": meta["ended_at"]}
        summary = build_summary(self.aggregate, plan.scenarios, plan.thresholds, evaluation,
                                meta=meta, run=run, errors=self.aggregator.errors,
                                samples=self.aggregator.samples, status=self.status,
                                rules=cfg.validity)
        validity = assess(summary, self.cpu, cfg.validity, stopped_early=self.stopped_by)
        lost = self.cluster.lost if self.cluster is not None else []
        if lost:  # the run did not offer its load: inconclusive, whatever the flags
            validity["reasons"].extend(node.describe() for node in lost)
            validity["valid"] = False
            run["lost_nodes"] = [node.to_json() for node in lost]
        validity["allowed"] = bool(cfg.allow_inconclusive and not validity["valid"] and not lost)
        exit_code, verdict = decide(evaluation, validity, self.stopped_by)
        if lost:
            exit_code, verdict = ExitCode.NODE_LOST, "inconclusive"
        run.update(verdict=verdict, exit_code=int(exit_code), validity=validity)
        if plan.handle_summary is not None:
            try:
                extra = plan.handle_summary(summary, SummaryView(self.aggregate))
            except Exception as exc:
                extra = {"handle_summary_error": f"{type(exc).__name__}: {exc}"}
            if isinstance(extra, dict):
                summary.update(extra)
        return RunEnd(summary, render_summary(summary, results_dir=str(run_dir)), int(exit_code))


async def run_test(recipe: PlanRecipe, cfg: RunConfig) -> RunOutcome:
    plan = recipe.build()
    if cfg.workers < 1:
        raise FleetloadError("--workers must be at least 1")
    if plan.max_workers is not None and cfg.workers > plan.max_workers:
        raise ConfigError(f"{plan.source} runs in at most {plan.max_workers} worker process(es) "
                          f"(max_workers in the script); got --workers {cfg.workers}")
    return await Run(plan, recipe, cfg).execute()
