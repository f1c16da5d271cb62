"""Liveness, readiness, version and Prometheus metrics (paths and bodies per profile)."""

from __future__ import annotations

import asyncio
import math
import time

from starlette.requests import Request
from starlette.responses import Response

from fleetplane import __version__
from fleetplane.api.common import app_state, json_response
from fleetplane.metrics import CONTENT_TYPE
from fleetplane.problems import Problem
from fleetplane.repo import certificates as certs_repo
from fleetplane.repo import jobs as jobs_repo

_GAUGE_TTL_S = 1.0


async def healthz(request: Request) -> Response:
    watch = app_state(request).overload
    if watch is not None:
        # --unhealthy-after-overload: 503 while the pool queue is over the
        # threshold and for hold_s after, so a load tool's cooldown has to wait.
        stats, left = watch.unhealthy_for()
        if left > 0:
            raise Problem(
                503,
                f"overloaded: {stats.waiting} waiting for the database pool (threshold {watch.threshold}); "
                f"healthy {watch.hold_s:g} s after the queue drains",
                headers={"Retry-After": str(max(1, math.ceil(left)))},
                extra={"pool_waiting": stats.waiting, "healthy_in_s": round(left, 3)},
            )
    certctl = app_state(request).config.prof.name == "certctl"
    return json_response({"status": "healthy" if certctl else "ok"})


async def readyz(request: Request) -> Response:
    st = app_state(request)
    certctl = st.config.prof.name == "certctl"
    try:
        async with asyncio.timeout(2.0), st.db.transaction(write=False) as tx:
            await tx.fetchone("SELECT 1 AS ok")
    except Exception as exc:
        if certctl:
            return json_response({"status": "db_unavailable", "error": type(exc).__name__}, 503)
        raise Problem(503, f"database not reachable: {type(exc).__name__}") from None
    return json_response({"status": "ready", "db": "reachable"} if certctl else {"status": "ready"})


async def version(request: Request) -> Response:
    cfg = app_state(request).config
    body: dict[str, str] = {"name": "fleetplane", "version": __version__, "profile": cfg.profile}
    if cfg.prof.grpc_ingest:
        # The gRPC address lets a load tool find the ingest from the HTTP URL alone.
        body["grpc"] = cfg.grpc_listen
    return json_response(body)


async def metrics(request: Request) -> Response:
    st = app_state(request)
    # Status gauges cost two GROUP BY queries; refresh at most once a second
    # so aggressive scrapers do not become part of the load, and never while
    # requests queue for the pool: a scrape must stay fast under saturation.
    if time.monotonic() - st.gauges_at > _GAUGE_TTL_S and st.db.stats().waiting == 0:
        st.gauges_at = time.monotonic()
        try:
            async with asyncio.timeout(0.5), st.db.transaction(write=False) as tx:
                jobs = await jobs_repo.counts_by_status(tx)
                certs = await certs_repo.counts_by_status(tx)
            for status in jobs_repo.STATUSES:
                st.metrics.jobs.labels(status).set(jobs.get(status, 0))
            for status in certs_repo.STATUSES:
                st.metrics.certificates.labels(status).set(certs.get(status, 0))
        except Exception:
            pass  # a saturated pool must not make /metrics fail
    return Response(st.metrics.render(), media_type=CONTENT_TYPE)
