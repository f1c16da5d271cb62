"""The open-loop scheduler's alarm: a timerfd on Linux, the loop's timer elsewhere."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from fleetload.engine import alarm as alarm_module
from fleetload.engine.alarm import Alarm

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


def on(loop_kind: str, coro: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=LOOPS[loop_kind]) as runner:
        return runner.run(coro)


class Wakes:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.times.append(time.perf_counter())
        self.event.set()


@pytest.fixture(params=["timerfd", "loop timer"])
def precise(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param == "loop timer":
        monkeypatch.setattr(alarm_module, "_TIMERFD", None)
    return bool(request.param == "timerfd")


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_it_wakes_at_the_instant_and_never_before(precise: bool, loop_kind: str) -> None:
    async def go() -> None:
        wakes = Wakes()
        alarm = Alarm(asyncio.get_running_loop(), wakes)
        assert alarm.precise is precise
        at = time.perf_counter() + 0.03
        alarm.arm(at)
        await asyncio.wait_for(wakes.event.wait(), 5)
        await asyncio.sleep(0.05)
        alarm.close()
        assert len(wakes.times) == 1
        assert wakes.times[0] >= at

    on(loop_kind, go())


def test_arming_again_replaces_the_instant(precise: bool) -> None:
    async def go() -> None:
        wakes = Wakes()
        alarm = Alarm(asyncio.get_running_loop(), wakes)
        alarm.arm(time.perf_counter() + 60)
        soon = time.perf_counter() + 0.02
        alarm.arm(soon)
        await asyncio.wait_for(wakes.event.wait(), 5)
        wakes.event.clear()
        alarm.arm(time.perf_counter() + 60)  # and later than now: no wake-up
        await asyncio.sleep(0.1)
        alarm.close()
        assert len(wakes.times) == 1 and wakes.times[0] >= soon

    on("uvloop", go())


def test_an_instant_in_the_past_wakes_at_the_next_turn(precise: bool) -> None:
    async def go() -> None:
        wakes = Wakes()
        alarm = Alarm(asyncio.get_running_loop(), wakes)
        alarm.arm(time.perf_counter() - 1.0)
        await asyncio.wait_for(wakes.event.wait(), 5)
        alarm.close()
        assert len(wakes.times) == 1

    on("uvloop", go())


def test_close_releases_the_timer_and_cancels_the_wake_up(precise: bool) -> None:
    async def go() -> None:
        wakes = Wakes()
        alarm = Alarm(asyncio.get_running_loop(), wakes)
        fd = alarm._fd
        alarm.arm(time.perf_counter() + 0.02)
        alarm.close()
        alarm.close()  # twice is harmless
        await asyncio.sleep(0.1)
        assert wakes.times == []
        assert not alarm.precise
        if precise:
            with pytest.raises(OSError):
                os.fstat(fd)

    on("uvloop", go())
