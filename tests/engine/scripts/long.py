import fleetload
from fleetload import ConstantArrivalRate, scenario

options = {"target": fleetload.env["TARGET"]}


@scenario(ConstantArrivalRate(rate=20, duration="60s", graceful_stop="30s"))
async def slow(vu):
    await vu.http.get(fleetload.env.get("REQ_PATH", "/ok"))
