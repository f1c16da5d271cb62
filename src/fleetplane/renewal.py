"""Renewal jobs: finishing them (shared by agents and the built-in worker) and the worker.

The built-in workers (``--renewal-workers``, each taking ``--renewal-latency``
per job) claim the oldest Pending renewal job, including jobs assigned to an
agent: they compete with agents polling ``/work``, which keeps bulk renewals
draining even when the assigned agents are simulated and never poll.
Drain rate is therefore about ``workers / latency`` jobs per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from fleetplane.db import Row, Tx
from fleetplane.db.base import DatabaseUnavailable
from fleetplane.repo import certificates as certs_repo
from fleetplane.repo import jobs as jobs_repo
from fleetplane.state import AppState
from fleetplane.timeutil import fmt, now, now_str

log = logging.getLogger("fleetplane.renewal")
_IDLE_POLL_S = 0.5


async def finish_certificate(tx: Tx, job: Row, *, ok: bool) -> None:
    """Move the job's certificate out of RenewalInProgress."""
    cert_id = job.get("certificate_id")
    if job.get("type") != "Renewal" or not cert_id:
        return
    days = await certs_repo.policy_validity_days(tx, cert_id)
    t = now()
    await certs_repo.finish_renewal(tx, cert_id, ok=ok, expires_at=fmt(t + timedelta(days=days)), now=fmt(t))


async def _work_one(state: AppState, name: str) -> bool:
    async with state.db.transaction() as tx:
        job = await jobs_repo.claim_next(tx, name, now_str())
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
