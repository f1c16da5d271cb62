from typing import Any

import fleetload
from fleetload import ConstantArrivalRate, check, scenario

options = {"target": fleetload.env["TARGET"]}
DUR = fleetload.env.get("DUR", "3s")


@scenario(ConstantArrivalRate(rate=float(fleetload.env.get("RATE", "40")), duration=DUR,
                              max_in_flight=50, graceful_stop="2s"))
async def steady(vu: Any) -> None:
    r = await vu.http.get("/ok")
    check(r, {"status 200": lambda r: r.status == 200})


@scenario(ConstantArrivalRate(rate=10, duration=DUR, max_in_flight=50, graceful_stop="2s"))
async def flaky(vu: Any) -> None:
    # Every third iteration fails with a 503.
    path = "/status/503" if vu.scenario_iteration % 3 == 0 else "/ok"
    r = await vu.http.get(path)
    check(r, {"status 200": lambda r: r.status == 200})
