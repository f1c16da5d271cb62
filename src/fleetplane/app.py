"""The Starlette application: routes, error handlers, middlewares."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from fleetplane.api import acme, admin, agents, certificates, health, jobs, openapi
from fleetplane.middleware import GuardMiddleware, MetricsMiddleware
from fleetplane.problems import EXCEPTION_HANDLERS
from fleetplane.ratelimit import TokenBucket
from fleetplane.state import AppState

ROUTES = [
    Route("/api/v1/certificates", certificates.list_, methods=["GET"]),
    Route("/api/v1/certificates", certificates.create, methods=["POST"]),
    Route("/api/v1/certificates/bulk-renew", certificates.bulk_renew, methods=["POST"]),
    Route("/api/v1/certificates/{id}", certificates.get, methods=["GET"]),
    Route("/api/v1/certificates/{id}", certificates.delete, methods=["DELETE"]),
    Route("/api/v1/agents", agents.list_, methods=["GET"]),
    Route("/api/v1/agents", agents.create, methods=["POST"]),
    Route("/api/v1/agents/{id}", agents.get, methods=["GET"]),
    Route("/api/v1/agents/{id}", agents.retire, methods=["DELETE"]),
    Route("/api/v1/agents/{id}/heartbeat", agents.heartbeat, methods=["POST"]),
    Route("/api/v1/agents/{id}/work", agents.work, methods=["GET"]),
    Route("/api/v1/jobs", jobs.list_, methods=["GET"]),
    Route("/api/v1/jobs/{id}", jobs.get, methods=["GET"]),
    Route("/api/v1/jobs/{id}/status", jobs.report_status, methods=["POST"]),
    Route("/acme/profile/{profile}/directory", acme.directory, methods=["GET"]),
    Route("/acme/profile/{profile}/new-nonce", acme.new_nonce, methods=["GET", "HEAD"]),
    Route("/acme/profile/{profile}/renewal-info/{certid}", acme.renewal_info, methods=["GET"]),
    Route("/admin/loadtest/runs/{run_id}", admin.delete_run, methods=["DELETE"]),
    Route("/healthz", health.healthz, methods=["GET"]),
    Route("/readyz", health.readyz, methods=["GET"]),
    Route("/version", health.version, methods=["GET"]),
    Route("/metrics", health.metrics, methods=["GET"]),
    Route("/openapi.json", openapi.openapi, methods=["GET"]),
]


def build_app(state: AppState) -> Starlette:
    cfg = state.config
    bucket = TokenBucket(cfg.rate_limit, cfg.rate_limit_burst) if cfg.rate_limit else None
    keys = [*cfg.api_keys, *([cfg.admin_key] if cfg.admin_key else [])]
    app = Starlette(
        routes=ROUTES,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            Middleware(MetricsMiddleware, metrics=state.metrics),
            Middleware(GuardMiddleware, keys=keys, bucket=bucket, metrics=state.metrics),
        ],
    )
    app.state.fp = state
    return app
