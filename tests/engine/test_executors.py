"""Each executor run against a scenario runtime whose script only records when
its iterations start (no network), on the real event loop: exact counts,
schedules, splits over workers, and every invalid option reported at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fleetload.engine.executors import (
    ArrivalRateExecutor,
    ClosedLoopExecutor,
    ConstantArrivalRate,
    ConstantVUs,
    PerVUIterations,
    RampingArrivalRate,
    RampingVUs,
    SharedIterations,
    executor_from_options,
)
from fleetload.engine.runtime import ErrorLog, ScenarioRuntime
from fleetload.errors import ConfigError
from fleetload.metrics.collector import Collector
from fleetload.protocols.http.client import HttpClient


class Recorded:
    def __init__(self, busy: float = 0.0) -> None:
        self.starts: list[tuple[int, float]] = []  # (vu id, seconds from the start)
        self.busy = busy
        self.t0 = 0.0

    async def __call__(self, vu: Any) -> None:
        self.starts.append((vu.id, time.perf_counter() - self.t0))
        if self.busy:
            await asyncio.sleep(self.busy)


def run(executor: Any, fn: Recorded, index: int = 0, count: int = 1) -> ScenarioRuntime:
    async def go() -> ScenarioRuntime:
        rt = ScenarioRuntime(name="s", fn=fn, client=HttpClient(), collector=Collector(),
                             run_id="r", env={}, setup_data=None, user_tags=None,
                             worker_index=index, worker_count=count, errors=ErrorLog())
        rt.start = fn.t0 = time.perf_counter()
        ex = executor.split(index, count)
        assert ex is not None
        await ex.run(rt)
        return rt

    return asyncio.run(go())


def test_constant_arrival_rate_starts_every_scheduled_iteration_on_time() -> None:
    fn = Recorded()
    ex = ConstantArrivalRate(rate=40, duration="0.5s", graceful_stop=1)
    rt = run(ex, fn)
    assert len(fn.starts) == 20 == ex.scheduled_iterations()
    assert rt.iter_rec.dropped == 0
    for n, (_, t) in enumerate(sorted(fn.starts, key=lambda s: s[1])):
        assert t >= n / 40 - 0.002  # never early


def test_an_arrival_rate_split_is_exact_and_disjoint() -> None:
    ex = ConstantArrivalRate(rate=60, duration="0.5s", graceful_stop=1)
    parts = [Recorded(), Recorded(), Recorded()]
    for i, fn in enumerate(parts):
        run(ex, fn, i, 3)
    assert sum(len(p.starts) for p in parts) == 30
    ids = [{vu for vu, _ in p.starts} for p in parts]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and not (ids[0] & ids[2])


def test_the_in_flight_cap_drops_and_counts() -> None:
    fn = Recorded(busy=0.3)
    rt = run(ConstantArrivalRate(rate=50, duration="0.2s", max_in_flight=3, graceful_stop=1), fn)
    assert len(fn.starts) == 3 and rt.iter_rec.dropped == 7


def test_ramping_arrival_rate_follows_its_pacer() -> None:
    ex = RampingArrivalRate(start_rate=0, stages=[("0.5s", 40), ("0.25s", 40)], graceful_stop=1)
    fn = Recorded()
    run(ex, fn)
    assert len(fn.starts) == round(ex.scheduled_iterations()) == 20


def test_closed_loop_families() -> None:
    fn = Recorded()
    run(PerVUIterations(vus=2, iterations=5), fn)
    assert sorted(vu for vu, _ in fn.starts) == [1] * 5 + [2] * 5
    fn = Recorded()
    run(SharedIterations(vus=3, iterations=10), fn)
    assert len(fn.starts) == 10
    fn = Recorded(busy=0.05)
    run(ConstantVUs(vus=2, duration="0.3s", graceful_stop=1), fn)
    assert {vu for vu, _ in fn.starts} == {1, 2} and 8 <= len(fn.starts) <= 14
    fn = Recorded(busy=0.05)
    run(RampingVUs(start_vus=0, stages=[("0.2s", 4), ("0.2s", 4)], graceful_ramp_down=0), fn)
    assert {vu for vu, _ in fn.starts} == {1, 2, 3, 4}


def test_families_are_types() -> None:
    assert isinstance(ConstantArrivalRate(rate=1, duration=1), ArrivalRateExecutor)
    assert isinstance(RampingArrivalRate(stages=[(1, 1)]), ArrivalRateExecutor)
    for ex in (ConstantVUs(duration=1), PerVUIterations(), SharedIterations(),
               RampingVUs(stages=[(1, 1)])):
        assert isinstance(ex, ClosedLoopExecutor) and not ex.open_loop


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        ConstantArrivalRate(rate=0, duration=0)
    assert str(info.value) == ("duration must be greater than 0, got 0.0; "
                               "rate must be greater than 0, got 0")
    with pytest.raises(ConfigError) as info:
        PerVUIterations(vus=0, iterations=-1)
    assert str(info.value) == ("vus must be a whole number >= 1, got 0; "
                               "iterations must be a whole number >= 1, got -1")


def test_k6_option_names_through_the_alias_table() -> None:
    ex = executor_from_options({"executor": "constant-arrival-rate", "rate": 10, "timeUnit": "2s",
                                "duration": "1m", "preAllocatedVUs": 5, "maxVUs": 20},
                               where="s")
    assert isinstance(ex, ConstantArrivalRate)
    assert (ex.pre_allocated, ex.max_in_flight, ex.per_second) == (5, 20, 5.0)
    with pytest.raises(ConfigError) as info:
        executor_from_options({"executor": "constant-vus", "vus": 1, "duration": "1s",
                               "maxVus": 3}, where="s")
    assert "unknown option(s) ['maxVus'] for executor constant-vus" in str(info.value)


def test_a_stop_ends_a_slow_schedule_while_it_waits() -> None:
    """One iteration a minute: the stop must not wait for the next one."""
    fn = Recorded()
    ex = ConstantArrivalRate(rate=1, time_unit="60s", duration="10m", graceful_stop=1)

    async def go() -> tuple[ScenarioRuntime, float]:
        rt = ScenarioRuntime(name="s", fn=fn, client=HttpClient(), collector=Collector(),
                             run_id="r", env={}, setup_data=None, user_tags=None,
                             worker_index=0, worker_count=1, errors=ErrorLog())
        rt.start = fn.t0 = time.perf_counter()
        asyncio.get_running_loop().call_later(0.2, rt.request_stop)
        split = ex.split(0, 1)
        await asyncio.wait_for(split.run(rt), 10)
        return rt, time.perf_counter() - fn.t0

    rt, took = asyncio.run(go())
    assert len(fn.starts) == 1  # the first, due at once; the second was a minute away
    assert rt.iter_rec.dropped == 0
    assert took < 5


def test_a_failing_schedule_raises_instead_of_waiting_forever() -> None:
    class Broken(ConstantArrivalRate):
        def pacer(self) -> Any:
            inner = super().pacer()

            class Pacer:
                def time_of(self, n: int) -> float | None:
                    if n == 5:
                        raise ValueError("no time for iteration 5")
                    return inner.time_of(n)

            return Pacer()

    fn = Recorded()
    with pytest.raises(ValueError, match="no time for iteration 5"):
        run(Broken(rate=100, duration="1s", graceful_stop=1), fn)
    assert len(fn.starts) == 5
