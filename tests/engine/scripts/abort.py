import fleetload
from fleetload import ConstantArrivalRate, scenario

options = {"target": fleetload.env["TARGET"]}
thresholds = {"http_req_failed": [{"threshold": "rate<0.1", "abort_on_fail": True,
                                   "delay_abort_eval": "1s"}]}


@scenario(ConstantArrivalRate(rate=20, duration="30s", graceful_stop="1s"))
async def failing(vu):
    await vu.http.get("/status/500")
