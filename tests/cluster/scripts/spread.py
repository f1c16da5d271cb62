import fleetload
from fleetload import ConstantArrivalRate, check, scenario

options = {"target": fleetload.env["TARGET"]}
thresholds = {"http_req_failed": [{"threshold": "rate<0.1", "abort_on_fail": True,
                                   "delay_abort_eval": fleetload.env.get("DELAY", "1s")}]}


@scenario(ConstantArrivalRate(rate=float(fleetload.env.get("RATE", "30")),
                              duration=fleetload.env.get("DUR", "2s"),
                              max_in_flight=int(fleetload.env.get("CAP", "30")),
                              graceful_stop="1s"))
async def spread(vu):
    # Who sent what: nginx's access log keeps the worker, VU id and iteration.
    r = await vu.http.get(f"{fleetload.env.get('REQ_PATH', '/ok')}?w={vu.worker_index}"
                          f"&vu={vu.id}&n={vu.scenario_iteration}")
    check(r, {"status 200": lambda r: r.status == 200})
