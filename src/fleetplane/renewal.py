"""Renewal jobs: finishing them (shared by agents and the built-in worker), the
worker, and the scheduler's renewal check.

The built-in workers (``--renewal-workers``, each taking ``--renewal-latency``
per job) claim the oldest Pending renewal job, including jobs assigned to an
agent: they compete with agents polling ``/work``, which keeps bulk renewals
draining even when the assigned agents are simulated and never poll. Under
agent key generation they also stand in for the agents' CSRs: they take
AwaitingCSR jobs once no Pending one is left. ``--renewal-workers 0`` leaves
those jobs to real agents (a CSR, or a status report).
Drain rate is therefore about ``workers / latency`` jobs per second.

The renewal check (certctl's scheduler, ``--renewal-check-interval``) runs at
start-up and then every interval: certificates expiring within 31 days that
are not already renewing get a Pending renewal job and go RenewalInProgress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from fleetplane.db import Row, Tx
from fleetplane.db.base import DatabaseUnavailable
from fleetplane.ids import new_id
from fleetplane.profile import RENEWAL_WINDOW_DAYS
from fleetplane.repo import certificates as certs_repo
from fleetplane.repo import jobs as jobs_repo
from fleetplane.state import AppState
from fleetplane.timeutil import fmt, now, now_str

log = logging.getLogger("fleetplane.renewal")
_IDLE_POLL_S = 0.5
# certctl's renewal check leaves these alone.
_NOT_DUE = ("RenewalInProgress", "Archived", "Revoked", "Failed", "Expired")


async def finish_certificate(tx: Tx, job: Row, *, ok: bool) -> None:
    """Move the job's certificate out of RenewalInProgress."""
    cert_id = job.get("certificate_id")
    if job.get("type") != "Renewal" or not cert_id:
        return
    days = await certs_repo.policy_validity_days(tx, cert_id)
    t = now()
    await certs_repo.finish_renewal(tx, cert_id, ok=ok, expires_at=fmt(t + timedelta(days=days)), now=fmt(t))


async def _work_one(state: AppState, name: str) -> bool:
    statuses = ("Pending", "AwaitingCSR") if state.config.keygen_mode == "agent" else ("Pending",)
    job = None
    async with state.db.transaction() as tx:
        for status in statuses:
            job = await jobs_repo.claim_next(tx, name, now_str(), status)
            if job is not None:
                break
    if job is None:
        return False
    await asyncio.sleep(state.config.renewal_latency)
    async with state.db.transaction() as tx:
        if await jobs_repo.set_status(tx, job["id"], "Running", "Completed", "renewed by built-in worker", now_str()):
            await finish_certificate(tx, job, ok=True)
            state.metrics.renewals.labels("worker", "Completed").inc()
    return True


async def worker(state: AppState, name: str) -> None:
    while True:
        try:
            if await _work_one(state, name):
                continue
        except asyncio.CancelledError:
            raise
        except DatabaseUnavailable:
            await asyncio.sleep(_IDLE_POLL_S)
            continue
        except Exception:
            log.exception("renewal worker %s failed; retrying", name)
            await asyncio.sleep(_IDLE_POLL_S)
            continue
        state.jobs_ready.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.jobs_ready.wait(), _IDLE_POLL_S)


def start_workers(state: AppState) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(worker(state, f"worker-{i + 1}"), name=f"renewal-worker-{i + 1}")
        for i in range(state.config.renewal_workers)
    ]


async def check_expiring(state: AppState) -> int:
    """One scheduler renewal check; returns how many certificates it moved."""
    t = now()
    stamp = fmt(t)
    async with state.db.transaction() as tx:
        ids = await certs_repo.due_for_renewal(tx, fmt(t + timedelta(days=RENEWAL_WINDOW_DAYS)), _NOT_DUE)
        jobs = [{"id": new_id("job"), "type": "Renewal", "certificate_id": cid, "agent_id": None,
                 "status": "Pending", "created_at": stamp, "updated_at": stamp} for cid in ids]  # fmt: skip
        await jobs_repo.insert_many(tx, jobs)
        await certs_repo.set_status_many(tx, ids, "RenewalInProgress", stamp)
    if ids:
        state.jobs_ready.set()
    return len(ids)


async def renewal_checks(state: AppState, interval: float) -> None:
    """Every ``interval`` seconds after the start-up check (done by the caller)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await check_expiring(state)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("renewal check failed; next one in %gs", interval)
