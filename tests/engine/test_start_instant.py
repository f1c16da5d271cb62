"""Arrival-rate executors prepare before the start instant: run before
``rt.start``, they make their pre-allocated VUs at once and start the first
iteration at its due time, never early; closed-loop executors are started at
the instant by the worker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from fleetload.engine.executors import ConstantArrivalRate, ConstantVUs, SharedIterations
from fleetload.engine.plan import Plan, Scenario
from fleetload.engine.runtime import ErrorLog, ScenarioRuntime
from fleetload.engine.worker import Worker, WorkerSpec
from fleetload.metrics.collector import Collector
from fleetload.protocols.http.client import HttpClient
from fleetload.protocols.http.options import ClientOptions

LEAD = 0.3  # seconds between the call and the start instant


def test_pre_allocated_vus_are_made_before_the_start_instant(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[float] = []
    starts: list[float] = []
    allocated_at_first: list[int] = []

    async def fn(vu: Any) -> None:
        if not starts:
            allocated_at_first.append(vu._rt.allocated)
        starts.append(time.perf_counter())

    new_vu = ScenarioRuntime.new_vu

    def recording_new_vu(self: ScenarioRuntime, vu_id: int) -> Any:
        made.append(time.perf_counter())
        return new_vu(self, vu_id)

    # on the class: a compiled build's instances take no attributes of their own
    monkeypatch.setattr(ScenarioRuntime, "new_vu", recording_new_vu)

    async def go() -> ScenarioRuntime:
        rt = ScenarioRuntime(name="s", fn=fn, client=HttpClient(), collector=Collector(),
                             run_id="r", env={}, setup_data=None, user_tags=None,
                             worker_index=0, worker_count=1, errors=ErrorLog())
        rt.start = time.perf_counter() + LEAD
        ex = ConstantArrivalRate(rate=50, duration="0.2s", pre_allocated=80, graceful_stop=1)
        assert ex.waits_for_start
        await ex.split(0, 1).run(rt)
        return rt

    rt = asyncio.run(go())
    assert len(made) == 80  # the pre-allocated VUs served every iteration
    assert max(made) < rt.start  # all of them made while nothing was due
    assert allocated_at_first == [80]
    assert len(starts) == 10
    for n, t in enumerate(sorted(starts)):
        assert t >= rt.start + n / 50 - 0.002  # never early
    assert min(starts) - rt.start < 0.2  # and the first not held back


def test_only_arrival_rate_executors_wait_for_the_start_themselves() -> None:
    assert ConstantArrivalRate(rate=10, duration="1s").waits_for_start
    assert not ConstantVUs(vus=1, duration="1s").waits_for_start
    assert not SharedIterations(vus=1, iterations=1).waits_for_start


def test_the_worker_hands_an_arrival_rate_scenario_over_before_its_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[float] = []
    starts: list[float] = []
    new_vu = ScenarioRuntime.new_vu

    def recording_new_vu(self: ScenarioRuntime, vu_id: int) -> Any:
        made.append(time.perf_counter())
        return new_vu(self, vu_id)

    monkeypatch.setattr(ScenarioRuntime, "new_vu", recording_new_vu)

    async def fn(vu: Any) -> None:
        starts.append(time.perf_counter())

    ex = ConstantArrivalRate(rate=50, duration="0.2s", pre_allocated=60, graceful_stop=1)
    plan = Plan(source="t", scenarios=[Scenario("s", fn, ex)], thresholds=[],
                client=ClientOptions())
    snapshots: list[Any] = []

    async def go() -> float:
        start_at = time.perf_counter() + LEAD
        await Worker(plan, WorkerSpec("r", 0, 1, start_at), snapshots.append).run()
        return start_at

    start_at = asyncio.run(go())
    assert len(made) == 60 and max(made) < start_at
    assert len(starts) == 10 and min(starts) >= start_at - 0.002
    assert sum(s.notes.get("final", 0.0) for s in snapshots) == 1.0
