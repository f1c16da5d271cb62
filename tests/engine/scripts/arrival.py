import fleetload
from fleetload import ConstantArrivalRate, check, scenario

options = {"target": fleetload.env["TARGET"]}
PATH = fleetload.env.get("REQ_PATH", "/ok")
thresholds = {"http_req_failed": ["rate<0.5"]}


@scenario(ConstantArrivalRate(rate=float(fleetload.env.get("RATE", "50")),
                              duration=fleetload.env.get("DUR", "2s"),
                              max_in_flight=int(fleetload.env.get("CAP", "100")),
                              graceful_stop="2s"))
async def arrivals(vu):
    r = await vu.http.get(PATH)
    check(r, {"status 200": lambda r: r.status == 200})
    log = fleetload.env.get("VU_LOG")
    if log:
        import os

        with open(log, "a") as f:
            f.write(f"{os.getpid()} {vu.id} {vu.scenario_iteration}\n")
