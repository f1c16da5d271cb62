"""constant-vus: a fixed number of VUs iterate back to back for a duration."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from fleetload.engine.executors.base import (
    Executor,
    finish_gracefully,
    positive,
    register,
    run_vu_loop,
    seconds,
    sleep_until,
)
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset, share
from fleetload.engine.vu import VU


@register
@dataclass(frozen=True)
class ConstantVUs(Executor):
    kind = "constant-vus"

    vus: int = 1
    duration: float | str = 0.0

    def validate(self) -> None:
        object.__setattr__(self, "duration", seconds(self.duration, "duration"))
        positive(float(self.duration), "duration")
        positive(self.vus, "vus")

    def scheduled_duration(self) -> float:
        return float(self.duration)

    def vus_planned(self) -> int:
        return self.vus

    def split(self, index: int, count: int) -> ConstantVUs | None:
        mine = share(self.vus, index, count)
        if not mine:
            return None
        return replace(self, vus=mine, segment=(index, count),
                       vu_id_offset=offset(self.vus, index, count))

    async def run(self, rt: ScenarioRuntime) -> None:
        import asyncio

        end = rt.start + float(self.duration)
        stop = rt.stopping
        perf = time.perf_counter

        def keep_going(_: VU) -> bool:
            return perf() < end and not stop.is_set()

        vus = [rt.new_vu(self.vu_id_offset + i + 1) for i in range(self.vus)]
        for vu in vus:
            vu.task = asyncio.get_running_loop().create_task(run_vu_loop(rt, vu, keep_going))
        await sleep_until(end, stop)
        await finish_gracefully(rt, vus, float(self.graceful_stop))

    def describe(self) -> str:
        return f"{self.vus} VUs for {float(self.duration):g}s"
