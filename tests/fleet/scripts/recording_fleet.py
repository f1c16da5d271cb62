"""A user-defined Agent (no network): records registrations in flight and tick
times, so cadence, jitter, ramp and the concurrency cap can be checked exactly."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import fleetload
from fleetload import Agent, Fleet, scenario

OUT = fleetload.env["FLEET_TEST_OUT"]
AGENTS = int(fleetload.env.get("FLEET_TEST_AGENTS", "200"))
RAMP = fleetload.env.get("FLEET_TEST_RAMP", "0s")
CAP = int(fleetload.env.get("FLEET_TEST_CAP", "8"))

RECORD: dict[str, Any] = {"ticks": {}, "registered": [], "max_in_flight": 0}
_in_flight = [0]


class RecordingAgent(Agent):
    __slots__ = ()
    transport = "memory"

    async def register(self) -> str:
        _in_flight[0] += 1
        RECORD["max_in_flight"] = max(RECORD["max_in_flight"], _in_flight[0])
        try:
            await asyncio.sleep(0.02)
        finally:
            _in_flight[0] -= 1
        RECORD["registered"].append(time.perf_counter() - self.fleet.rt.start)
        self.agent_id = f"mem-{self.index}"
        return "active"

    async def heartbeat(self) -> None:
        RECORD["ticks"].setdefault(self.index, []).append(time.perf_counter() - self.fleet.rt.start)
        self.stats.heartbeat_sent(0)
        self.stats.heartbeat_result(True, 0.001)

    @staticmethod
    async def teardown_fleet(ctx: Any) -> None:
        with open(os.path.join(OUT, f"record-{ctx.lo}.json"), "w") as f:
            json.dump(RECORD, f)


@scenario(Fleet(agent=RecordingAgent, agents=AGENTS, duration="4s", ramp=RAMP,
                registration_concurrency=CAP, heartbeat_interval="1s", jitter=0.2))
async def fleet(vu: Any) -> None:
    pass
