"""One GET /api/v1/certificates?per_page=1 per iteration (one read transaction
on the reference target, on SQLite and PostgreSQL alike), open loop."""

from fleetload import VU, ConstantArrivalRate, scenario

options = {"timeout": "5s"}


@scenario(ConstantArrivalRate(rate=10, duration="3s", max_in_flight=400, graceful_stop="2s"))
async def list_certs(vu: VU) -> None:
    await vu.http.get("/api/v1/certificates?per_page=1", name="list")
