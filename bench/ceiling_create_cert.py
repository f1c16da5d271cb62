"""Load script for bench/ceiling_pool.py: one certificate created per iteration
(``POST /api/v1/certificates``), open loop; ``fleetload ceiling`` sets the rate.

Every certificate is named ``lt-<run id>-<n>`` and tagged ``run_id``.
"""

from fleetload import ConstantArrivalRate, check, scenario

options = {"timeout": "10s"}

TEMPLATE = {"owner_id": "o-alice", "team_id": "t-platform", "issuer_id": "iss-local",
            "renewal_policy_id": "rp-standard", "environment": "loadtest"}


@scenario(ConstantArrivalRate(rate=50, duration="10s", max_in_flight=2000, graceful_stop="5s"))
async def create(vu):
    name = vu.unique("lt-")
    r = await vu.http.post("/api/v1/certificates", name="create",
                           json={**TEMPLATE, "name": name, "common_name": f"{name}.example.com",
                                 "tags": {"run_id": vu.run_id}})
    check(r, {"201": lambda r: r.status == 201})
