import fleetload
from fleetload import ConstantArrivalRate, scenario

# 127.0.0.1 is each node's own: a node in a network namespace loads its own server.
options = {"target": f"http://127.0.0.1:{fleetload.env['PORT']}"}


@scenario(ConstantArrivalRate(rate=20, duration="40s", max_in_flight=40, graceful_stop="1s"))
async def partition(vu):
    await vu.http.get(f"/?w={vu.worker_index}&n={vu.scenario_iteration}")
