import fleetload
from fleetload import (
    ConstantVUs,
    Counter,
    PerVUIterations,
    RampingArrivalRate,
    RampingVUs,
    SharedIterations,
    Trend,
    scenario,
)

options = {"target": fleetload.env["TARGET"]}
seen = Counter("vu_seen")
custom = Trend("custom_ms")


@scenario(ConstantVUs(vus=3, duration="1s", graceful_stop="1s"))
async def constant(vu):
    await vu.http.get("/delay?ms=20")
    seen.add(1, tags={"vu": str(vu.id)})
    custom.add(12.5)


@scenario(PerVUIterations(vus=4, iterations=5))
async def per_vu(vu):
    await vu.http.get("/ok", name="per-vu")


@scenario(SharedIterations(vus=3, iterations=10))
async def shared(vu):
    await vu.http.get("/ok")


@scenario(RampingVUs(start_vus=0, stages=[{"duration": "1s", "target": 4},
                                          {"duration": "1s", "target": 0}],
                     graceful_ramp_down="1s"))
async def ramping(vu):
    await vu.http.get("/delay?ms=50")


@scenario(RampingArrivalRate(start_rate=0, stages=[("2s", 40), ("1s", 40)], graceful_stop="1s"))
async def ramp_rate(vu):
    await vu.http.get("/ok")
