"""The Starlette application: routes, error handlers, middlewares (per profile)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from fleetplane.api import acme, admin, agent_jobs, agents, certificates, health, jobs, openapi
from fleetplane.config import TargetConfig
from fleetplane.middleware import GuardMiddleware, Limiter, MetricsMiddleware
from fleetplane.problems import EXCEPTION_HANDLERS
from fleetplane.profile import Profile
from fleetplane.ratelimit import KeyedTokenBuckets, TokenBucket
from fleetplane.state import AppState


def build_routes(profile: Profile) -> list[Route]:
    """The API (the same in every profile) plus the profile's probe paths."""
    return [
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
        Route("/api/v1/agents/{id}/jobs/{job_id}/status", agent_jobs.report_status, methods=["POST"]),
        Route("/api/v1/agents/{id}/csr", agent_jobs.submit_csr, methods=["POST"]),
        Route("/api/v1/jobs", jobs.list_, methods=["GET"]),
        Route("/api/v1/jobs/{id}", jobs.get, methods=["GET"]),
        Route("/api/v1/jobs/{id}/status", jobs.report_status, methods=["POST"]),
        Route("/acme/profile/{profile}/directory", acme.directory, methods=["GET"]),
        Route("/acme/profile/{profile}/new-nonce", acme.new_nonce, methods=["GET", "HEAD"]),
        Route("/acme/profile/{profile}/renewal-info/{certid}", acme.renewal_info, methods=["GET"]),
        Route("/admin/loadtest/runs/{run_id}", admin.delete_run, methods=["DELETE"]),
        Route(profile.health_path, health.healthz, methods=["GET"]),
        Route(profile.ready_path, health.readyz, methods=["GET"]),
        Route(profile.version_path, health.version, methods=["GET"]),
        Route(profile.metrics_path, health.metrics, methods=["GET"]),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
    ]


def _limiters(cfg: TargetConfig) -> tuple[Limiter | None, Limiter | None]:
    """(the API's limiter, the probes' limiter); (None, None) when off."""
    if not cfg.rate_limit:
        return None, None
    if cfg.prof.rate_limit_per_client:
        api = KeyedTokenBuckets(cfg.rate_limit, cfg.rate_limit_burst)
        probes = KeyedTokenBuckets(cfg.rate_limit, cfg.rate_limit_burst)
        return api.take, probes.take
    bucket = TokenBucket(cfg.rate_limit, cfg.rate_limit_burst)
    return (lambda _client: bucket.take()), None


def build_app(state: AppState) -> Starlette:
    cfg = state.config
    limiter, open_limiter = _limiters(cfg)
    keys = [*cfg.api_keys, *([cfg.admin_key] if cfg.admin_key else [])]
    app = Starlette(
        routes=build_routes(cfg.prof),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            Middleware(MetricsMiddleware, metrics=state.metrics),
            Middleware(GuardMiddleware, keys=keys, profile=cfg.prof, limiter=limiter,
                       open_limiter=open_limiter, metrics=state.metrics),
        ],
    )  # fmt: skip
    app.state.fp = state
    return app
