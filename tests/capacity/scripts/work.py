"""One GET /work per iteration, open loop; the ceiling search sets the rate."""

import fleetload
from fleetload import VU, ConstantArrivalRate, scenario

options = {"timeout": "5s"}

CAP = int(fleetload.env.get("CAP", "400"))
BURN_MS = float(fleetload.env.get("BURN_MS", "0"))


def _burn(ms: float) -> None:
    # CPU in the generator's own event loop: saturates it at rate x ms >= 1000.
    import time

    end = time.perf_counter() + ms / 1000.0
    while time.perf_counter() < end:
        pass


@scenario(ConstantArrivalRate(rate=10, duration="3s", max_in_flight=CAP, graceful_stop="2s"))
async def work(vu: VU) -> None:
    if BURN_MS:
        _burn(BURN_MS)
    await vu.http.get("/work")
