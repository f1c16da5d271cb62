"""What one scenario needs while it runs in one process."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from fleetload.engine.vu import VU, HttpSession, current_vu, scenario_tags
from fleetload.metrics.collector import Collector
from fleetload.metrics.failure_samples import FailureSamples
from fleetload.metrics.http_series import HttpSeries
from fleetload.metrics.kinds import SeriesKey, Tags
from fleetload.metrics.scope import current_scope

if TYPE_CHECKING:
    from fleetload.protocols.http import HttpClient

IterationFn = Callable[[VU], Awaitable[Any]]

MAX_DISTINCT_ERRORS = 50
OVERFLOW_TEXT = "(further distinct errors not listed)"


class ErrorLog:
    """Distinct iteration errors per scenario with counts, capped so a storm of
    unique messages cannot grow memory."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.first_trace: dict[tuple[str, str], str] = {}
        self.overflow: dict[str, int] = {}

    def record(self, exc: BaseException, scenario: str = "") -> str:
        text = f"{type(exc).__name__}: {exc}"[:300]
        key = (scenario, text)
        if key in self.counts:
            self.counts[key] += 1
        elif len(self.counts) < MAX_DISTINCT_ERRORS:
            self.counts[key] = 1
            self.first_trace[key] = "".join(traceback.format_exception(exc, limit=6))[-2000:]
        else:
            self.overflow[scenario] = self.overflow.get(scenario, 0) + 1
        return text

    def totals(self) -> dict[tuple[str, str], int]:
        """Counts to report, the overflow under one line per scenario."""
        out = dict(self.counts)
        for scenario, n in self.overflow.items():
            out[(scenario, OVERFLOW_TEXT)] = n
        return out


class ScenarioRuntime:
    """A scenario's state in one process: VUs, recorders, stop signals."""

    def __init__(self, *, name: str, fn: IterationFn, client: HttpClient, collector: Collector,
                 run_id: str, env: Mapping[str, str], setup_data: Any,
                 user_tags: Mapping[str, str] | None, worker_index: int, worker_count: int,
                 errors: ErrorLog, failures: FailureSamples | None = None) -> None:
        self.name = name
        self.fn = fn
        self.client = client
        self.collector = collector
        self.run_id = run_id
        self.env = env
        self.setup_data = setup_data
        self.tags: Tags = scenario_tags(name, user_tags)
        self.worker_index = worker_index
        self.worker_count = worker_count
        self.errors = errors
        self.failures = failures if failures is not None else FailureSamples()
        self.series = HttpSeries(collector, name, self.tags,
                                 on_failure=lambda resp: self.failures.add(name, resp))
        self.iter_rec = collector.iteration_recorder(self.tags)
        self.check_keys: dict[tuple[str, Tags | None], SeriesKey] = {}
        self.stopping = asyncio.Event()  # no new iterations
        self.stop_requested = False  # the same, as a plain flag for the hot path
        self.start = 0.0  # perf_counter when the scenario started
        self.active = 0  # iterations in flight
        self.allocated = 0  # VUs created
        self.behind = 0.0  # how late the scheduler is, seconds (open loop)
        self._next_iteration = worker_index  # scenario_iteration: unique across workers
        self.vus: list[VU] = []
        # Executor-specific live numbers (agents registered, streams open...):
        # summed over workers, except keys starting with "max_" (largest wins).
        self.status: dict[str, float] = {}

    # -- VUs -----------------------------------------------------------------------
    def new_vu(self, vu_id: int) -> VU:
        self.allocated += 1
        vu = VU(vu_id, self)
        self.vus.append(vu)
        return vu

    # -- running iterations ------------------------------------------------------------
    def request_stop(self) -> None:
        """No new iterations from now on."""
        self.stop_requested = True
        self.stopping.set()

    async def vu_loop(self, vu: VU, *, keep_going: Callable[[VU], bool] | None = None,
                      until: float = float("inf"),
                      park: Callable[[VU], Awaitable[float]] | None = None,
                      first: float | None = None) -> None:
        """One VU's life: run iterations and record them.

        Closed loop: iterations back to back until ``until`` (perf_counter) or
        a stop, and while ``keep_going(vu)`` says so when given.
        Open loop (``park``): the VU parks on what ``park(vu)`` returns until
        the scheduler hands it an iteration's scheduled start (``first`` is the
        one it was created for); cancelled while parked, it ends quietly.

        Exceptions from the script are counted, never propagated: one bad
        iteration must not end the run. This is the hot path of every
        executor, so the bookkeeping is inline and the counters that can be
        derived (iterations = durations recorded) are not kept twice.
        """
        current_vu.set(vu)
        current_scope.set(self)  # check() and custom metrics record with this scenario's tags
        fn = self.fn
        rec = self.iter_rec  # its buffers are swapped by the collector: no local aliases
        errors = self.errors
        step = self.worker_count
        perf = time.perf_counter
        n = 0
        due = first
        while True:
            if park is not None:
                if due is None:
                    try:
                        due = await park(vu)
                    except asyncio.CancelledError:
                        return  # parked, not interrupted: the schedule is over
                start = perf()
                rec.lag.append(start - due)
            else:
                n += 1
                if not n & 63:
                    # An iteration that never awaits would otherwise starve the loop.
                    await asyncio.sleep(0)
                start = due = perf()
                if start >= until or self.stop_requested:
                    return
                if keep_going is not None and not keep_going(vu):
                    return
            vu.intended_start = due
            due = None
            vu.iteration += 1
            vu.scenario_iteration = self._next_iteration
            self._next_iteration += step
            self.active += 1
            try:
                await fn(vu)
            except asyncio.CancelledError:
                rec.interrupted += 1
                raise
            except Exception as exc:
                rec.errors += 1
                errors.record(exc, self.name)
            finally:
                self.active -= 1
            rec.duration.append(perf() - start)


__all__ = ["ErrorLog", "HttpSession", "ScenarioRuntime"]
