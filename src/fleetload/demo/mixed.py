"""The demo's mixed load against the reference target (the job `fleetload demo` runs).

A seeded fleet of 5,000 agents heartbeats at its native cadence (one beat per
agent every 30 s = 166.7 req/s), operators create and list certificates at
10 req/s each, and one bulk renewal of 500 seeded certificates runs 10 s in (sooner in a
short demo).
"""

from fleetload import VU, ConstantArrivalRate, Duration, PerVUIterations, check, param, scenario

AGENTS = param("agents", int, default=5000, help="seeded agents (ag-loadtest-NNNNN)")
DURATION = param("duration", Duration, default="60s")
HEARTBEAT_RATE = AGENTS / 30.0
BULK_AT = min(10.0, DURATION / 4)  # well inside even a short demo

thresholds = {
    "http_req_duration{scenario:heartbeats}": ["p(95)<500", "p(99)<1000"],
    "http_req_duration{scenario:create_certificates}": ["p(95)<2000"],
    "http_req_duration{scenario:list_certificates}": ["p(95)<800"],
    "http_req_failed": ["rate<0.01"],
    "checks": ["rate>0.99"],
}


@scenario(ConstantArrivalRate(rate=HEARTBEAT_RATE, duration="60s", graceful_stop="5s"))
async def heartbeats(vu: VU) -> None:
    agent = f"ag-loadtest-{vu.scenario_iteration % AGENTS + 1:05d}"
    r = await vu.http.post(f"/api/v1/agents/{agent}/heartbeat", json={"version": "2.1.0"},
                           name="agent heartbeat")
    check(r, {"heartbeat recorded": lambda r: r.status == 200})


@scenario(ConstantArrivalRate(rate=10, duration="60s", graceful_stop="5s"))
async def create_certificates(vu: VU) -> None:
    name = vu.unique("demo-")
    r = await vu.http.post("/api/v1/certificates", name="create certificate", json={
        "name": name, "common_name": f"{name}.demo.example", "owner_id": "o-alice",
        "team_id": "t-platform", "issuer_id": "iss-local", "renewal_policy_id": "rp-standard",
        "environment": "demo", "tags": {"run_id": vu.run_id},
    })
    check(r, {"created": lambda r: r.status == 201})


@scenario(ConstantArrivalRate(rate=10, duration="60s", start_time="2s", graceful_stop="5s"))
async def list_certificates(vu: VU) -> None:
    r = await vu.http.get("/api/v1/certificates?per_page=50", name="list certificates")
    check(r, {"listed": lambda r: r.status == 200})


@scenario(PerVUIterations(vus=1, iterations=1, start_time=BULK_AT, max_duration="60s"))
async def bulk_renewal(vu: VU) -> None:
    page = await vu.http.get("/api/v1/certificates?environment=loadtest&per_page=500",
                             name="list seeded certificates")
    ids = [c["id"] for c in page.json()["data"]] if page.status == 200 else []
    r = await vu.http.post("/api/v1/certificates/bulk-renew", json={"certificate_ids": ids},
                           name="bulk renew", timeout=60)
    check(r, {"bulk renew accepted": lambda r: r.status == 200,
              "certificates enqueued": lambda r: r.json().get("total_matched", 0) > 0})
