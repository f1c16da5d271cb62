"""api-tier: certificate issuance and listing at 50 req/s each, in parallel, for 5 minutes.

Models the API tier of a control plane under its everyday load: operators and
CI pipelines creating certificates (``POST /api/v1/certificates``) while
dashboards page through the inventory (``GET /api/v1/certificates?per_page=50``).
Two open-loop scenarios run side by side, the second started 5 s later so
their first seconds do not coincide.

    fleetload run api-tier --target https://host:8443 --token KEY
    fleetload run api-tier --target ... --token ... --create-rate 100 --list-rate 20 --duration 1m

Every certificate it creates is named ``lt-<run id>-<n>`` and tagged
``run_id=<run id>``; on the reference target ``DELETE /admin/loadtest/runs/<run id>``
(admin key) removes them. The names never repeat within or across runs, which
matters on certctl: it answers a duplicate name with a 500, indistinguishable
from a server failure. ``--seed`` first loads the 10,000-certificate fixture
(skipping what is there, for the same reason) so the listing pages through a
realistic inventory (the pack also runs without it). Against certctl's default
rate limiter (50 req/s per client) the default 100 req/s fails the contract:
raise the limiter for the test, or turn it off.
"""

from __future__ import annotations

from typing import Any

from fleetload import VU, ConstantArrivalRate, Duration, check, param, scenario
from fleetload.packs import _common

CREATE_RATE = param("create_rate", float, default=50.0,
                    help="certificates created per second (issuance_acceptance)")
LIST_RATE = param("list_rate", float, default=50.0,
                  help="list requests per second (list_certificates)")
DURATION = param("duration", Duration, default="5m")
STAGGER = param("stagger", Duration, default="5s",
                help="start_time of list_certificates, after issuance_acceptance")
PER_PAGE = param("per_page", int, default=50, help="page size of the listing")
SEED = param("seed", str, help="seed the fixture first: bare (through the API) or a database URL")
CERTS = param("certs", int, default=10_000, help="fixture size that --seed loads")

# Lookups every certctl-compatible server ships (issuer, owner, team, policy).
CERT_TEMPLATE = {
    "owner_id": "o-alice",
    "team_id": "t-platform",
    "issuer_id": "iss-local",
    "renewal_policy_id": "rp-standard",
    "environment": "loadtest",
}

thresholds = {
    "http_req_duration{scenario:issuance_acceptance}": ["p(95)<2000", "p(99)<5000"],
    "http_req_failed{scenario:issuance_acceptance}": ["rate<0.01"],
    "http_req_duration{scenario:list_certificates}": ["p(95)<800", "p(99)<2000"],
    "http_req_failed{scenario:list_certificates}": ["rate<0.01"],
}


async def setup(ctx: Any) -> None:
    mode = _common.seed_mode(SEED)
    if mode:
        await _common.seed(ctx.http, mode, certs=CERTS)
    # Fails early (one line, exit 2) on a wrong token or a server without the API.
    await _common.call(ctx.http, "GET", "/api/v1/certificates?per_page=1")


@scenario(ConstantArrivalRate(rate=CREATE_RATE, duration=DURATION))
async def issuance_acceptance(vu: VU) -> None:
    name = vu.unique("lt-")
    body = dict(CERT_TEMPLATE, name=name, common_name=f"{name}.loadtest.example.com",
                tags={"run_id": vu.run_id})
    r = await vu.http.post("/api/v1/certificates", json=body, name="create_certificate",
                           expected_statuses=(201,))
    check(r, {"create 201": lambda r: r.status == 201})


@scenario(ConstantArrivalRate(rate=LIST_RATE, duration=DURATION, start_time=STAGGER))
async def list_certificates(vu: VU) -> None:
    r = await vu.http.get(f"/api/v1/certificates?per_page={PER_PAGE}", name="list_certificates")
    check(r, {
        "list 200": lambda r: r.status == 200,
        "list is a page": lambda r: isinstance(r.json().get("data"), list) and "total" in r.json(),
    })
