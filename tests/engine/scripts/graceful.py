import fleetload
from fleetload import VU, ConstantVUs, RampingVUs, scenario

options = {"target": fleetload.env["TARGET"]}
GRACE = fleetload.env["GRACE"]


@scenario(ConstantVUs(vus=2, duration="1s", graceful_stop=GRACE))
async def stop(vu: VU) -> None:
    await vu.http.get("/delay?ms=1500")


@scenario(RampingVUs(start_vus=2, stages=[{"duration": "0.5s", "target": 2},
                                          {"duration": "0.1s", "target": 0},
                                          {"duration": "2s", "target": 0}],
                     graceful_ramp_down=GRACE, graceful_stop="5s"))
async def ramp_down(vu: VU) -> None:
    await vu.http.get("/delay?ms=1500")
