"""Two scenarios against the stub server, for baseline, report and CI-format tests.

env: TARGET (stub URL), MS (server delay of the 'api' scenario, default 2),
RATE (api arrivals/s, default 40), DUR (default 3s), FAIL_EVERY (every Nth
'browse' iteration asks for a 500; 0 = never).
"""

import fleetload
from fleetload import ConstantArrivalRate, RampingVUs, check, scenario

options = {"target": fleetload.env["TARGET"]}
MS = fleetload.env.get("MS", "2")
FAIL_EVERY = int(fleetload.env.get("FAIL_EVERY", "0"))
DUR = fleetload.env.get("DUR", "3s")

thresholds = {
    "http_req_duration{scenario:api}": ["p(95)<2000"],
    "http_req_failed": ["rate<0.5"],
    # Fails on purpose when MS is large: the JUnit test expects exactly this failure.
    "http_req_duration{scenario:browse}": [fleetload.env.get("BROWSE_P99", "p(99)<5000")],
}


@scenario(ConstantArrivalRate(rate=float(fleetload.env.get("RATE", "40")), duration=DUR,
                              max_in_flight=50, graceful_stop="2s"))
async def api(vu):
    r = await vu.http.get(f"/delay?ms={MS}", name="delay")
    check(r, {"200": lambda r: r.status == 200})


@scenario(RampingVUs(start_vus=1, stages=[{"duration": DUR, "target": 4}], graceful_ramp_down="1s"))
async def browse(vu):
    if FAIL_EVERY and vu.scenario_iteration % FAIL_EVERY == 0:
        await vu.http.get("/status/500", name="fail")
    await vu.http.get("/delay?ms=20", name="browse")
