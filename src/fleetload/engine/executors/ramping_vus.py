"""ramping-vus: the number of looping VUs follows linear stages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import ClassVar

from fleetload.engine.executors.base import (
    ClosedLoopExecutor,
    ScheduleOverrides,
    finish_gracefully,
    register,
    run_vu_loop,
    whole,
)
from fleetload.engine.executors.stages import normalize_stages
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset, share
from fleetload.engine.vu import VU

_TICK = 0.05


@register
@dataclass(frozen=True)
class RampingVUs(ClosedLoopExecutor):
    """VUs go linearly from ``start_vus`` through each stage's ``target``.

    When the target drops, VUs beyond it finish their current iteration, given
    at most ``graceful_ramp_down``, and then stop (k6's semantics).
    """

    kind = "ramping-vus"
    DURATIONS: ClassVar[tuple[str, ...]] = ("graceful_ramp_down",)

    start_vus: int = 1
    stages: tuple[tuple[float, float], ...] = field(default_factory=tuple)
    graceful_ramp_down: float | str = 30.0

    def _normalise(self) -> None:
        self._set("stages", normalize_stages(self.stages, integer_targets=True))

    def validate(self) -> list[str]:
        return whole(self.start_vus, "start_vus", least=0)

    def scheduled_duration(self) -> float:
        return sum(d for d, _ in self.stages)

    def vus_planned(self) -> int:
        return int(max([self.start_vus, *(t for _, t in self.stages)]))

    def target_at(self, t: float) -> int:
        """Total VUs wanted at ``t`` seconds (all workers together)."""
        level, elapsed = float(self.start_vus), 0.0
        for duration, target in self.stages:
            if t < elapsed + duration:
                frac = (t - elapsed) / duration if duration else 1.0
                return int(level + (target - level) * frac + 1e-9)
            level, elapsed = target, elapsed + duration
        return int(level)

    def overridable(self) -> frozenset[str]:
        # No --vus: the VUs follow the stages.
        return frozenset({"duration"})

    def with_overrides(self, o: ScheduleOverrides) -> RampingVUs:
        if o.duration is None:
            return self
        total = self.scheduled_duration()
        factor = o.duration / total if total else 1.0
        return replace(self, stages=tuple((d * factor, t) for d, t in self.stages))

    def split(self, index: int, count: int) -> RampingVUs | None:
        if not share(self.vus_planned(), index, count):
            return None
        return replace(self, segment=(index, count),
                       vu_id_offset=offset(self.vus_planned(), index, count))

    async def run(self, rt: ScenarioRuntime) -> None:
        index, count = self.segment
        loop = asyncio.get_running_loop()
        perf = time.perf_counter
        stop = rt.stopping
        end = rt.start + self.scheduled_duration()
        pool: list[VU] = []  # every VU ever made, reused in id order
        active: list[VU] = []
        ramp_down = float(self.graceful_ramp_down)

        def keep_going(vu: VU) -> bool:
            return not vu.stop_requested

        def start_vu() -> None:
            idle = [v for v in pool if v not in active and (v.task is None or v.task.done())]
            if idle:
                vu = idle[0]
            else:
                vu = rt.new_vu(self.vu_id_offset + len(pool) + 1)
                pool.append(vu)
            vu.stop_requested = False
            vu.task = loop.create_task(run_vu_loop(rt, vu, keep_going, end))
            active.append(vu)

        def retire_vu() -> None:
            vu = active.pop()
            vu.stop_requested = True
            task = vu.task
            if task is not None and ramp_down > 0:
                loop.call_later(ramp_down, lambda: task.done() or task.cancel())
            elif task is not None:
                task.cancel()

        while not stop.is_set():
            now = perf()
            if now >= end:
                break
            want = share(self.target_at(now - rt.start), index, count)
            while len(active) < want:
                start_vu()
            while len(active) > want:
                retire_vu()
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(_TICK, max(end - now, 0.001)))
            except TimeoutError:
                pass
        await finish_gracefully(rt, pool, float(self.graceful_stop))

    def describe(self) -> str:
        path = " -> ".join(f"{int(t)} over {d:g}s" for d, t in self.stages)
        return f"VUs from {self.start_vus}: {path}"
