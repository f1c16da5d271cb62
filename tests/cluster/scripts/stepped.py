import fleetload
from fleetload import ConstantArrivalRate, scenario

options = {"target": fleetload.env["TARGET"]}


@scenario(ConstantArrivalRate(rate=10, duration="3s", max_in_flight=40, graceful_stop="1s"))
async def stepped(vu):
    # Which step (run), worker and iteration sent each request: nginx's log says.
    await vu.http.get(f"/ok?run={vu.run_id}&w={vu.worker_index}&n={vu.scenario_iteration}")
