"""Target profiles: which control plane's conventions the target follows.

``fleetplane`` (the default) is the reference target's own behaviour: RFC 7807
errors, probes at ``/healthz`` and ``/readyz``, no rate limit unless asked.
``certctl`` follows certctl (``certctl-io/certctl``) where the two differ; every
difference is one field here, so handlers ask the profile rather than its name.
docs/target.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # Probes: liveness, readiness and version are served without an API key.
    health_path: str
    ready_path: str
    version_path: str
    # Prometheus text: /metrics (open), or certctl's /api/v1/metrics/prometheus
    # (behind the API key, as everything under /api/).
    metrics_path: str
    # certctl's middleware order: rate limit, then the API key on every path
    # but the probes and /acme, unknown ones included (/healthz answers 401),
    # then routing. Otherwise keys on /api/ only.
    auth_on_unknown_paths: bool
    # "problem": RFC 7807 application/problem+json; "certctl":
    # {"error","message","request_id"} and text/plain 401/429 bodies.
    error_style: str
    # Rate limiter on by default, one bucket per client IP (certctl) or a
    # single process-wide bucket off by default (fleetplane).
    rate_limit_default: tuple[float, int] | None
    rate_limit_per_client: bool
    # POST /api/v1/certificates with a name that exists.
    duplicate_certificate_status: int
    # POST /api/v1/agents/{unknown}/heartbeat and GET .../work.
    unknown_agent_status: int
    # GET /api/v1/agents/{id}/work: {"jobs","count"} or {"data","total"}.
    work_items_key: str
    work_count_key: str
    # Bulk renew: criteria match at most this many certificates (one
    # repository page); None = all. Unknown certificate_ids: errors[] entries
    # (fleetplane) or silently dropped (certctl).
    bulk_renew_page: int | None
    bulk_renew_reports_unknown_ids: bool
    bulk_renew_skips: tuple[str, ...]
    # Bulk-renew jobs go round robin to online agents (fleetplane) or to none.
    bulk_renew_assigns_agents: bool
    # Agent key generation is the default (renewal jobs start AwaitingCSR).
    keygen_default: str
    # The scheduler's renewal check: seconds between runs (the first at
    # start-up), None = never.
    renewal_check_default: float | None
    # The gRPC agent ingest (a fleetplane extension; certctl has none).
    grpc_ingest: bool


FLEETPLANE = Profile(
    name="fleetplane",
    health_path="/healthz",
    ready_path="/readyz",
    version_path="/version",
    metrics_path="/metrics",
    auth_on_unknown_paths=False,
    error_style="problem",
    rate_limit_default=None,
    rate_limit_per_client=False,
    duplicate_certificate_status=409,
    unknown_agent_status=404,
    work_items_key="data",
    work_count_key="total",
    bulk_renew_page=None,
    bulk_renew_reports_unknown_ids=True,
    bulk_renew_skips=("RenewalInProgress", "Revoked"),
    bulk_renew_assigns_agents=True,
    keygen_default="server",
    renewal_check_default=None,
    grpc_ingest=True,
)

CERTCTL = Profile(
    name="certctl",
    health_path="/health",
    ready_path="/ready",
    version_path="/api/v1/version",
    metrics_path="/api/v1/metrics/prometheus",
    auth_on_unknown_paths=True,
    error_style="certctl",
    rate_limit_default=(50.0, 100),
    rate_limit_per_client=True,
    duplicate_certificate_status=500,
    unknown_agent_status=500,
    work_items_key="jobs",
    work_count_key="count",
    bulk_renew_page=50,
    bulk_renew_reports_unknown_ids=False,
    bulk_renew_skips=("RenewalInProgress", "Revoked", "Expired", "Archived"),
    bulk_renew_assigns_agents=False,
    keygen_default="agent",
    renewal_check_default=3600.0,
    grpc_ingest=False,
)

PROFILES = {p.name: p for p in (FLEETPLANE, CERTCTL)}
# certctl's scheduler renews certificates expiring within this many days.
RENEWAL_WINDOW_DAYS = 31


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: expected {' or '.join(PROFILES)}") from None
