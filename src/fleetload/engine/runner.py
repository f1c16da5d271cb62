"""One test run from start to results: setup, workers, live line, thresholds,
graceful and hard stops, teardown, and the run directory.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fleetload.engine.aggregator import RunAggregator
from fleetload.engine.processes import WorkerPool
from fleetload.engine.worker import Worker, WorkerSpec, make_client
from fleetload.errors import ConfigError, ExitCode, FleetloadError, TargetUnreachable
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.metrics.thresholds import evaluate
from fleetload.redact import redact_url
from fleetload.report.live import LiveLine
from fleetload.report.text import render_summary
from fleetload.results import rundir
from fleetload.results.hlog import HlogWriter
from fleetload.results.meta import git_commit, host_info, iso
from fleetload.results.observations import OBSERVATIONS, ObservationRecorder, Observer
from fleetload.results.summary import SummaryView, build_summary
from fleetload.results.timeline import TimelineWriter, interval_row
from fleetload.results.validity import ValidityRules, assess
from fleetload.script.loader import Plan
from fleetload.script.recipe import PlanRecipe

# Extra wall time past the longest planned scenario before a run is cut hard.
_SAFETY_MARGIN = 30.0
_START_DELAY = 0.3


@dataclass
class RunConfig:
    workers: int = 1
    out: Path | None = None
    results_root: Path = Path("results")
    stats_interval: float = 5.0
    summary_export: Path | None = None
    quiet: bool = False
    argv: list[str] = field(default_factory=list)
    preflight: bool = True
    interval: float = 1.0
    stream: TextIO | None = None
    observers: list[Observer] = field(default_factory=list)
    allow_inconclusive: bool = False
    validity: ValidityRules = field(default_factory=ValidityRules)


@dataclass
class RunOutcome:
    exit_code: int
    run_dir: Path
    summary: dict[str, Any]
    text: str


class SetupContext:
    """What ``setup()`` and ``teardown()`` get: an HTTP client and the env."""

    def __init__(self, plan: Plan, run_id: str) -> None:
        self.http = make_client(plan.client)
        self.env = plan.env
        self.run_id = run_id


async def preflight(plan: Plan, url: str | None) -> dict[str, Any] | None:
    """One request to the target before anything starts: an unreachable or
    untrusted target is a clear error, not a run full of failures. Returns the
    target's self-reported version (``GET /version``) when it has one."""
    if not url:
        return None
    client = make_client(plan.client)
    try:
        resp = await client.request("GET", url, timeout=10.0)
        version = None
        if resp.error is None and plan.client.target:
            probe = await client.request("GET", plan.client.target.rstrip("/") + "/version",
                                         timeout=3.0)
            version = _version_of(probe)
    finally:
        await client.close()
    if resp.error in ("connection_refused", "dns_error", "connect_timeout", "tls_error",
                      "connection_reset", "timeout"):
        hint = ""
        if resp.error == "tls_error":
            hint = " (use --insecure or --ca-cert FILE for a private CA)"
        raise TargetUnreachable(f"target {redact_url(url)} is unreachable: {resp.error}"
                                f"{': ' + resp.error_detail if resp.error_detail else ''}{hint}")
    return version


def _version_of(resp: Any) -> dict[str, Any] | None:
    if resp.status != 200 or len(resp.body) > 4096:
        return None
    try:
        data = resp.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if isinstance(v, str | int | float) and k != "token"}


def _planned_duration(plan: Plan) -> float:
    return max((float(s.executor.start_time) + s.executor.scheduled_duration()
                for s in plan.scenarios), default=0.0)


def _max_duration(plan: Plan) -> float:
    return max((s.executor.wall_time_limit() for s in plan.scenarios), default=0.0)


def _scheduled_rate(plan: Plan, t: float) -> float | None:
    total, any_open = 0.0, False
    for s in plan.scenarios:
        ex = s.executor
        if not ex.open_loop:
            continue
        any_open = True
        pacer = ex.pacer() if hasattr(ex, "pacer") else None
        local = t - float(ex.start_time)
        if pacer is not None:
            total += pacer.rate_at(local)
        elif 0 <= local < ex.scheduled_duration():
            total += float(getattr(ex, "per_second", 0.0))
    return total if any_open else None


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
        self.stopped_by: str | None = None
        self.interrupts = 0
        self.done = asyncio.Event()
        self.target_version: dict[str, Any] | None = None
        self.observation_failures: dict[str, int] = {}
        self._recorder: ObservationRecorder | None = None
        self._observations_path: Path | None = None
        self.observation_errors: dict[str, str] = {}
        self._stop_fn: Any = None
        self._abort_fn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cpu: list[float] = []  # busiest worker's CPU per interval, fraction of a core

    # -- control ------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Safe from any thread (thresholds are evaluated off the event loop)."""
        if self.stopped_by is None:
            self.stopped_by = reason
        if self._stop_fn and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_fn)

    def request_abort(self, reason: str) -> None:
        self.stopped_by = reason
        if self._abort_fn and self._loop is not None:
            self._loop.call_soon_threadsafe(self._abort_fn)

    def _on_sigint(self) -> None:
        self.interrupts += 1
        out = self.cfg.stream or sys.stderr
        if self.interrupts == 1:
            print("\nstopping gracefully (Ctrl-C again to abort at once)...", file=out, flush=True)
            self.request_stop("interrupted (Ctrl-C)")
        else:
            print("\naborting...", file=out, flush=True)
            self.request_abort("aborted (second Ctrl-C)")

    def _check_abort(self, snap: IntervalSnapshot, agg: Aggregate) -> None:
        if not any(t.abort_on_fail for ts in self.plan.thresholds for t in ts.thresholds):
            return
        ev = evaluate(self.plan.thresholds, agg, elapsed=snap.end, only_abortable=True)
        failed = [v for v in ev.verdicts if not v.ok and v.reason != "no samples"]
        if failed and self.stopped_by is None:
            self.request_stop(f"threshold {failed[0].selector} {failed[0].source} failed "
                              "(abort_on_fail)")

    # -- the run ------------------------------------------------------------------------
    async def execute(self) -> RunOutcome:
        cfg, plan = self.cfg, self.plan
        out = cfg.stream or sys.stderr
        self.target_version = None
        if cfg.preflight:
            self.target_version = await preflight(plan, plan.client.target
                                                  or _oneliner_url(self.recipe))
        run_dir = rundir.create_run_dir(self.run_id, out=cfg.out, root=cfg.results_root)
        start_wall = time.time()
        hlog = HlogWriter(run_dir / rundir.HLOG, start_wall)
        timeline = TimelineWriter(run_dir / rundir.TIMELINE)
        planned = _planned_duration(plan)
        live = LiveLine(every=cfg.stats_interval, planned=planned,
                        scheduled_rate=lambda t: _scheduled_rate(plan, t), out=out, quiet=cfg.quiet,
                        formatters={s.name: s.executor.format_status for s in plan.scenarios})
        self._live = live

        def on_interval(snap: IntervalSnapshot, agg: Aggregate) -> None:
            cpu = snap.notes.get("max_cpu")
            if cpu is not None:
                self.cpu.append(cpu)
            hlog.write_interval(snap.start, snap.end, snap.trends)
            row = interval_row(snap)
            timeline.write(row)
            live.on_row(row)
            self._check_abort(snap, agg)

        self.aggregator.observers.append(on_interval)
        meta = self._meta(start_wall)
        rundir.write_json(run_dir / rundir.META, meta)
        if not cfg.quiet:
            print(f"fleetload run {self.run_id}: {plan.source} - {len(plan.scenarios)} "
                  f"scenario(s), up to {planned:g}s, {cfg.workers} worker(s)", file=out, flush=True)
            for s in plan.scenarios:
                print(f"  {s.name}: {s.executor.describe()}", file=out, flush=True)

        loop = self._loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        except (NotImplementedError, RuntimeError):
            pass
        setup_ctx = SetupContext(plan, self.run_id)
        setup_data: Any = None
        self._observations_path = run_dir / OBSERVATIONS
        try:
            if plan.setup is not None:
                setup_data = await plan.setup(setup_ctx)
            await self._run_workers(setup_data)
            if plan.teardown is not None:
                await plan.teardown(setup_ctx, setup_data)
        finally:
            recorder = self._recorder
            if recorder is not None:
                await recorder.stop()
                self.observation_failures = dict(recorder.failures)
                self.observation_errors = dict(recorder.last_error)
            await setup_ctx.http.close()
            try:
                loop.remove_signal_handler(signal.SIGINT)
            except (NotImplementedError, RuntimeError):
                pass
            self.aggregator.finish()
            live.emit(self.aggregate.elapsed)
            hlog.close()
            timeline.close()
        end_wall = time.time()
        return self._finish(run_dir, meta, start_wall, end_wall)

    def _observe_from(self, start_at: float) -> None:
        """Sample observers on the workers' clock, so t=0 is the run's start."""
        if self.cfg.observers and self._observations_path is not None:
            self._recorder = ObservationRecorder(self._observations_path, self.cfg.observers,
                                                 t0=start_at)
            self._recorder.start()

    async def _run_workers(self, setup_data: Any) -> None:
        cfg, plan = self.cfg, self.plan
        deadline = _max_duration(plan) + _SAFETY_MARGIN
        if cfg.workers == 1:
            start_at = time.perf_counter() + 0.05
            self._observe_from(start_at)
            # The worker calls the sink on its binning thread: merging, the
            # interval log, the timeline and thresholds stay off the event loop.
            worker = Worker(plan, WorkerSpec(self.run_id, 0, 1, start_at, cfg.interval),
                            sink=lambda snap: self.aggregator.add(0, snap),
                            setup_data=setup_data)
            self._stop_fn, self._abort_fn = worker.stop, worker.abort
            task = asyncio.get_running_loop().create_task(worker.run())
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=deadline)
            except TimeoutError:
                self.request_abort("exceeded the planned duration plus graceful stop")
                await task
            return
        pool = WorkerPool(self.recipe, run_id=self.run_id, count=cfg.workers, interval=cfg.interval,
                          setup_data=setup_data, on_snapshot=self.aggregator.add,
                          on_exit=self.aggregator.worker_exited)
        try:
            await asyncio.get_running_loop().run_in_executor(None, pool.wait_ready)
            self._stop_fn, self._abort_fn = pool.stop, pool.abort
            start_at = time.perf_counter() + _START_DELAY
            self._observe_from(start_at)
            pool.start(start_at)
            try:
                await asyncio.wait_for(pool.all_exited.wait(), timeout=deadline)
            except TimeoutError:
                self.request_abort("exceeded the planned duration plus graceful stop")
                await asyncio.wait_for(pool.all_exited.wait(), timeout=15.0)
        finally:
            pool.join(timeout=5.0)
        if pool.error is not None:
            raise FleetloadError(pool.error)

    def _meta(self, start_wall: float) -> dict[str, Any]:
        plan, cfg = self.plan, self.cfg
        script = Path(self.recipe.script) if self.recipe.script else None
        client = plan.client
        return {
            "run_id": self.run_id,
            "source": (plan.source if not self.recipe.oneliner
                       else f"{self.recipe.oneliner.method.upper()} "
                            f"{redact_url(self.recipe.oneliner.url)}"),
            "started_at": iso(start_wall),
            "host": host_info(),
            "git": git_commit(script.resolve()) if script and script.exists() else None,
            "command": cfg.argv,
            "workers": cfg.workers,
            "target": redact_url(client.target or _oneliner_url(self.recipe)),
            "target_version": self.target_version,
            "client": {"insecure": client.insecure, "ca_file": client.ca_file,
                       "token": bool(client.token), "timeout": client.timeout,
                       "connect_timeout": client.connect_timeout, "keep_alive": client.keep_alive,
                       "header_names": sorted(client.headers)},
            "env_keys": sorted(self.recipe.overrides.env),
            "scenarios": {s.name: s.executor.options() for s in plan.scenarios},
            "thresholds": {ts.key: [t.source for t in ts.thresholds] for ts in plan.thresholds},
            "observers": [o.source for o in cfg.observers],
        }

    def _finish(self, run_dir: Path, meta: dict[str, Any], start_wall: float,
                end_wall: float) -> RunOutcome:
        plan, cfg = self.plan, self.cfg
        evaluation = evaluate(plan.thresholds, self.aggregate)
        meta = dict(meta, ended_at=iso(end_wall), duration_s=round(end_wall - start_wall, 3))
        if self.observation_failures:
            meta["observation_failures"] = {
                src: {"count": n, "last_error": self.observation_errors.get(src, "")}
                for src, n in self.observation_failures.items()}
        run: dict[str, Any] = {
            "id": self.run_id, "source": meta["source"], "verdict": "passed", "exit_code": 0,
            "elapsed": self.aggregate.elapsed, "workers": cfg.workers,
            "stopped_by": self.stopped_by, "started_at": meta["started_at"],
            "ended_at": meta["ended_at"]}
        summary = build_summary(self.aggregate, plan.scenarios, plan.thresholds, evaluation,
                                meta=meta, run=run, errors=self.aggregator.errors,
                                samples=self.aggregator.samples, status=self._live.status,
                                rules=cfg.validity)
        validity = assess(summary, self.cpu, cfg.validity, stopped_early=self.stopped_by)
        validity["allowed"] = bool(cfg.allow_inconclusive and not validity["valid"])
        if not evaluation.ok:
            exit_code, verdict = ExitCode.THRESHOLDS_FAILED, "failed"
        elif self.stopped_by and ("Ctrl-C" in self.stopped_by or "aborted" in self.stopped_by):
            exit_code, verdict = ExitCode.INTERRUPTED, "interrupted"
        elif not validity["valid"] and not validity["allowed"]:
            exit_code, verdict = ExitCode.INCONCLUSIVE, "inconclusive"
        else:
            exit_code, verdict = ExitCode.OK, "passed"
        run.update(verdict=verdict, exit_code=int(exit_code), validity=validity)
        if plan.handle_summary is not None:
            try:
                extra = plan.handle_summary(summary, SummaryView(self.aggregate))
            except Exception as exc:
                extra = {"handle_summary_error": f"{type(exc).__name__}: {exc}"}
            if isinstance(extra, dict):
                summary.update(extra)
        rundir.write_json(run_dir / rundir.META, meta)
        rundir.write_json(run_dir / rundir.SUMMARY, summary)
        if cfg.summary_export:
            cfg.summary_export.parent.mkdir(parents=True, exist_ok=True)
            rundir.write_json(cfg.summary_export, summary)
        text = render_summary(summary, results_dir=str(run_dir))
        (run_dir / rundir.SUMMARY_TXT).write_text(text, encoding="utf-8")
        return RunOutcome(int(exit_code), run_dir, summary, text)


def _oneliner_url(recipe: PlanRecipe) -> str | None:
    return recipe.oneliner.url if recipe.oneliner else None


async def run_test(recipe: PlanRecipe, cfg: RunConfig) -> RunOutcome:
    plan = recipe.build()
    if cfg.workers < 1:
        raise FleetloadError("--workers must be at least 1")
    if plan.max_workers is not None and cfg.workers > plan.max_workers:
        raise ConfigError(f"{plan.source} runs in at most {plan.max_workers} worker process(es) "
                          f"(max_workers in the script); got --workers {cfg.workers}")
    return await Run(plan, recipe, cfg).execute()
