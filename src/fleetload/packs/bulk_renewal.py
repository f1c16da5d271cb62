"""bulk-renewal: 5 bulk-renew requests/s over a 10,000-certificate seed, and how long the jobs take to drain.

Models an operator (or a policy engine) renewing certificates in bulk:
``POST /api/v1/certificates/bulk-renew`` at 5 req/s for 5 minutes. Each
request names a distinct slice of the seeded certificates (``certificate_ids``,
``--batch-size`` of them, default 10), taken round robin over the seed: request
n renews slice n mod (certs / batch-size). Why: criteria such as
``team_id=t-platform`` match the whole seed, so the first request would enqueue
10,000 jobs and every later one would only find certificates already renewing
and skip them - a latency figure for requests that do no work. Distinct slices
make every request enqueue ``batch-size`` new renewal jobs. At the defaults
that is 50 jobs/s, and the round robin comes back to a slice only after
certs / batch-size / rate = 200 s, by which time a healthy target has renewed
it (if not, the request finds it still renewing: the "did real work" check
fails and ``bulk_renewal_jobs_skipped`` counts it).

It also measures what the certctl harness could not: how long the enqueued
jobs take to drain. A second scenario, ``drain``, polls the jobs listing once
per unfinished state (``GET /api/v1/jobs?status=Pending``, ``AwaitingCSR``,
``AwaitingApproval``, ``Running``: certctl's, ``--unfinished-states``), every
``--drain-poll``. A job that leaves those listings is read once
(``GET /api/v1/jobs/{id}``): in a finished state (``Completed``, ``Failed``,
``Cancelled``, ``--finished-states``) it is done; in any other state it is an
error, counted per state in ``bulk_renewal_jobs_unknown_state{state:...}``,
and its batch never counts as drained. ``bulk_renewal_drain_seconds`` (a
Trend in seconds, resolution one poll interval) is, for every bulk-renew
request, the seconds from its response until all the jobs it enqueued were
finished. certctl starts renewal jobs ``AwaitingCSR`` when agents generate the
keys: they are not drained until an agent's CSR moves them on. After the load
ends it keeps polling until every batch has drained (at most
``--drain-timeout``); ``bulk_renewal_tail_seconds`` is how long that took.

Only seeded certificates that can be renewed now are used: certctl's
scheduler moves certificates expiring within 31 days to RenewalInProgress at
start-up, and bulk renew skips those (and Revoked, Expired, Archived ones).

    fleetload run bulk-renewal --target https://host:8443 --token KEY
    fleetload run bulk-renewal ... --certs 2000 --batch-size 20 --rate 2 --duration 1m
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from fleetload import (
    VU,
    ConfigError,
    ConstantArrivalRate,
    Counter,
    Duration,
    Gauge,
    PerVUIterations,
    Trend,
    check,
    param,
    scenario,
)
from fleetload.packs import _common

RATE = param("rate", float, default=5.0, help="bulk-renew requests per second")
DURATION = param("duration", Duration, default="5m")
CERTS = param("certs", int, default=10_000, help="seeded certificates to renew (loadtest-bulk-*)")
BATCH = param("batch_size", int, default=10, help="certificate_ids per request")
DRAIN_POLL = param("drain_poll", Duration, default="1s", help="how often the drain scenario polls")
DRAIN_TIMEOUT = param("drain_timeout", Duration, default="120s",
                      help="how long to wait for the queue to drain after the load")
UNFINISHED = param("unfinished_states", str, default="Pending,AwaitingCSR,AwaitingApproval,Running",
                   help="job states that are not done yet (comma separated)")
FINISHED = param("finished_states", str, default="Completed,Failed,Cancelled",
                 help="job states that are done (comma separated); any other state is an error")
SEED = param("seed", str, help="seed the fixture first: bare (through the API) or a database URL")
TARGET = param("target", str)

if CERTS < 1 or BATCH < 1:
    raise ConfigError("--certs and --batch-size must be at least 1")


def state_set(flag: str, text: str) -> frozenset[str]:
    states = frozenset(s.strip() for s in text.split(",") if s.strip())
    if not states:
        raise ConfigError(f"--{flag}: give at least one job state, comma separated")
    return states


UNFINISHED_STATES = state_set("unfinished-states", UNFINISHED)
FINISHED_STATES = state_set("finished-states", FINISHED)
if UNFINISHED_STATES & FINISHED_STATES:
    raise ConfigError("--unfinished-states and --finished-states share "
                      + ", ".join(sorted(UNFINISHED_STATES & FINISHED_STATES)))
# Bulk renew skips certificates in these states (certctl's list; fleetplane's is a subset).
NOT_RENEWABLE = ("RenewalInProgress", "Revoked", "Expired", "Archived")

thresholds = {
    "http_req_duration{scenario:bulk_renew}": ["p(95)<2000", "p(99)<5000"],
    "http_req_failed{scenario:bulk_renew}": ["rate<0.01"],
}

drain_seconds = Trend("bulk_renewal_drain_seconds", time=False,
                      description="seconds from a bulk-renew response until its jobs are done")
tail_seconds = Gauge("bulk_renewal_tail_seconds")
queue_depth = Gauge("bulk_renewal_queue_depth")
jobs_enqueued = Counter("bulk_renewal_jobs_enqueued")
jobs_skipped = Counter("bulk_renewal_jobs_skipped")
jobs_failed = Counter("bulk_renewal_jobs_failed")
batches_undrained = Counter("bulk_renewal_batches_undrained")
jobs_unknown_state = Counter("bulk_renewal_jobs_unknown_state",
                             description="jobs seen in a state neither unfinished nor finished")
batches_unknown_state = Counter("bulk_renewal_batches_unknown_state")


@dataclass(eq=False)
class Batch:
    """The jobs of one bulk-renew response, until all are finished."""
    enqueued_at: float
    waiting: set[str]
    unknown: int = 0


# Batches enqueued by this process and not yet drained. The drain scenario runs
# in the first worker; with --workers N it measures that worker's share.
OUTSTANDING: deque[Batch] = deque()
IN_FLIGHT = [0]


async def setup(ctx: Any) -> dict[str, Any]:
    mode = _common.seed_mode(SEED)
    if mode:
        await _common.seed(ctx.http, mode, certs=CERTS)
    certs = await _common.seeded_certificates(ctx.http, CERTS, target=TARGET)
    ids = [str(c["id"]) for c in certs if c.get("status") not in NOT_RENEWABLE]
    if not ids:
        states = sorted({str(c.get("status")) for c in certs})
        raise ConfigError(f"none of the {len(certs)} seeded certificates can be renewed now (they are "
                          f"{', '.join(states)}): the target is already renewing them (certctl's "
                          "scheduler renews certificates expiring within 31 days at start-up); "
                          "wait for those renewals to finish, or seed certificates after start-up")
    if len(ids) < len(certs):
        _common.say(f"bulk-renewal: {len(certs) - len(ids)} of the {len(certs)} seeded certificates "
                    "are already renewing (or revoked/expired) and are left out")
    slices = math.ceil(len(ids) / BATCH)
    _common.say(f"bulk-renewal: {len(ids)} certificates in {slices} slices of {BATCH}; "
                f"{RATE:g} req/s = {RATE * BATCH:g} renewal jobs/s; a slice comes round again "
                f"every {slices / RATE:.0f}s")
    return {"ids": ids}


@scenario(ConstantArrivalRate(rate=RATE, duration=DURATION))
async def bulk_renew(vu: VU) -> None:
    ids: list[str] = vu.data["ids"]
    slices = math.ceil(len(ids) / BATCH)
    k = vu.scenario_iteration % slices
    IN_FLIGHT[0] += 1
    try:
        r = await vu.http.post("/api/v1/certificates/bulk-renew", name="bulk_renew",
                               json={"certificate_ids": ids[k * BATCH:(k + 1) * BATCH]})
        body = r.json() if r.status == 200 else {}
        enqueued = body.get("enqueued_jobs") or []
        check(r, {"bulk-renew 200": lambda r: r.status == 200,
                  "did real work": lambda r: int(body.get("total_enqueued") or 0) > 0})
        jobs_enqueued.add(int(body.get("total_enqueued") or 0))
        jobs_skipped.add(int(body.get("total_skipped") or 0))
        jobs_failed.add(int(body.get("total_failed") or 0))
        job_ids = frozenset(str(j["job_id"]) for j in enqueued if j.get("job_id"))
        if job_ids:
            OUTSTANDING.append(Batch(time.perf_counter(), set(job_ids)))
    finally:
        IN_FLIGHT[0] -= 1


async def jobs_in(vu: VU, status: str) -> tuple[set[str], int]:
    """Ids of all jobs in ``status`` and the listing's total. Cursor (keyset)
    pages where the server has them, so jobs leaving the list mid-scan cannot
    shift others out of sight; page numbers otherwise."""
    seen: set[str] = set()
    total = 0
    use_cursor, cursor, page = True, "", 1
    while True:
        if use_cursor:
            url = f"/api/v1/jobs?status={status}&page_size=500&cursor={cursor}"
        else:
            url = f"/api/v1/jobs?status={status}&per_page=500&page={page}"
        r = await vu.http.get(url, name="jobs_list")
        if r.status != 200:
            raise RuntimeError(f"GET /api/v1/jobs?status={status}: HTTP {r.status}")
        body = r.json()
        if use_cursor and "next_cursor" not in body:
            use_cursor = False  # no cursor mode here: start again with page numbers
            continue
        data = body.get("data") or []
        seen.update(str(j["id"]) for j in data)
        total = max(total, int(body.get("total") or 0))
        if use_cursor:
            if not body["next_cursor"]:
                return seen, total
            cursor = str(body["next_cursor"])
            continue
        if not data or page * int(body.get("per_page") or 500) >= total:
            return seen, total
        page += 1


async def job_state(vu: VU, job_id: str) -> str:
    r = await vu.http.get(f"/api/v1/jobs/{job_id}", name="job_get")
    if r.status == 404:
        return "(not found)"
    if r.status != 200:
        raise RuntimeError(f"GET /api/v1/jobs/{job_id}: HTTP {r.status}")
    return str(r.json().get("status"))


async def poll_once(vu: VU) -> None:
    batches = list(OUTSTANDING)  # enqueued before this poll started
    # In the order jobs move (Pending, AwaitingCSR, ..., Running): a job moving
    # on during the scan is seen in one listing or read on its own below.
    unfinished: set[str] = set()
    depth = 0
    for status in sorted(UNFINISHED_STATES, key=_state_order):
        seen, total = await jobs_in(vu, status)
        unfinished |= seen
        depth += total
    queue_depth.set(depth)
    now = time.perf_counter()
    for batch in batches:
        for job_id in sorted(batch.waiting - unfinished):
            state = await job_state(vu, job_id)
            if state in UNFINISHED_STATES:
                continue  # moved between listings during the scan
            batch.waiting.discard(job_id)
            if state not in FINISHED_STATES:
                jobs_unknown_state.add(1, {"state": state})
                batch.unknown += 1
        if batch.waiting:
            continue
        OUTSTANDING.remove(batch)
        if batch.unknown:
            batches_unknown_state.add(1)
        else:
            drain_seconds.add(now - batch.enqueued_at)


def _state_order(state: str) -> int:
    order = ("Pending", "AwaitingApproval", "AwaitingCSR", "Running")
    return order.index(state) if state in order else len(order)


@scenario(PerVUIterations(vus=1, iterations=1, max_duration=DURATION,
                          graceful_stop=DRAIN_TIMEOUT + 30))
async def drain(vu: VU) -> None:
    if vu.id != 1:
        return  # one monitor, even with --vus
    load_ends = time.perf_counter() + DURATION
    while True:
        started = time.perf_counter()
        await poll_once(vu)
        now = time.perf_counter()
        if now >= load_ends and IN_FLIGHT[0] == 0:
            if not OUTSTANDING:
                tail_seconds.set(max(0.0, now - load_ends))
                return
            if now - load_ends > DRAIN_TIMEOUT:
                batches_undrained.add(len(OUTSTANDING))
                OUTSTANDING.clear()
                return
        await asyncio.sleep(max(0.0, DRAIN_POLL - (time.perf_counter() - started)))


def handle_summary(summary: dict[str, Any], view: Any) -> dict[str, Any]:
    """A ``bulk_renewal`` section: the request latency and the drain side by side."""
    _common.add_scenario_metrics(summary, view)
    scenario_tag = {"scenario": "bulk_renew"}
    failed = view.values("http_req_failed", scenario_tag)

    def count(metric: str) -> float:
        v = view.values(metric)
        return float(v["count"]) if v else 0.0

    tail = view.values("bulk_renewal_tail_seconds")
    unknown = {state: count_of(view, "bulk_renewal_jobs_unknown_state", {"state": state})
               for state in view.tag_values("bulk_renewal_jobs_unknown_state", "state")}
    return {"bulk_renewal": {
        "requests": count_of(view, "http_reqs", scenario_tag),
        "request_duration_ms": _common.trend_brief(view.values("http_req_duration", scenario_tag)),
        "request_failed_rate": failed["rate"] if failed else None,
        "jobs_enqueued": count("bulk_renewal_jobs_enqueued"),
        "jobs_skipped": count("bulk_renewal_jobs_skipped"),
        "jobs_failed": count("bulk_renewal_jobs_failed"),
        "drain_seconds": _common.trend_brief(view.values("bulk_renewal_drain_seconds")),
        "drain_unit": "seconds from the bulk-renew response until its jobs were all in a "
                      f"finished state (resolution {DRAIN_POLL:g}s)",
        "unfinished_states": sorted(UNFINISHED_STATES, key=_state_order),
        "finished_states": sorted(FINISHED_STATES),
        "jobs_unknown_state": unknown,
        "batches_unknown_state": count("bulk_renewal_batches_unknown_state"),
        "batches_undrained": count("bulk_renewal_batches_undrained"),
        "tail_seconds": tail["value"] if tail else None,
    }}


def count_of(view: Any, metric: str, tags: dict[str, str]) -> float:
    v = view.values(metric, tags)
    return float(v["count"]) if v else 0.0
