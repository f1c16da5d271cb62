import fleetload
from fleetload import PerVUIterations, scenario

options = {"read_timeout": "500ms", "timeout": "5s", "connect_timeout": "1s"}
BASE = fleetload.env["TARGET"]
CLOSED = fleetload.env["CLOSED"]
thresholds = {
    "http_reqs{error:connection_refused}": ["count==2"],
    "http_reqs{error:connection_reset}": ["count==2"],
    "http_reqs{error:read_timeout}": ["count==2"],
    "http_reqs{error:malformed_response}": ["count==2"],
    "http_reqs{status:503}": ["count==2"],
    "http_req_failed": ["rate==1"],
    "iterations": ["count==2"],
}


@scenario(PerVUIterations(vus=2, iterations=1))
async def failing(vu):
    await vu.http.get(CLOSED + "/x")
    await vu.http.get(BASE + "/reset")
    await vu.http.get(BASE + "/stall")
    await vu.http.get(BASE + "/garbage")
    await vu.http.get(BASE + "/status/503")
