"""Prometheus metrics on a private CollectorRegistry (never the global one)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from fleetplane.db import PoolStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, pool_stats: Callable[[], PoolStats]) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "fleetplane_http_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("fleetplane_http_requests_in_flight", "HTTP requests being served.", registry=r)
        self.rate_limited = Counter("fleetplane_http_rate_limited_total", "Requests refused with 429.", registry=r)
        pool_size = Gauge("fleetplane_db_pool_size", "Database connections in the pool.", registry=r)
        pool_in_use = Gauge("fleetplane_db_pool_in_use", "Database connections checked out.", registry=r)
        pool_waiting = Gauge(
            "fleetplane_db_pool_waiting", "Requests waiting for a database connection (or the SQLite writer).", registry=r
        )
        pool_size.set_function(lambda: pool_stats().size)
        pool_in_use.set_function(lambda: pool_stats().in_use)
        pool_waiting.set_function(lambda: pool_stats().waiting)
        self.heartbeats = Counter(
            "fleetplane_agent_heartbeats_total", "Agent heartbeats recorded.", ["transport"], registry=r
        )
        self.registrations = Counter(
            "fleetplane_agent_registrations_total", "Agent registrations by outcome.", ["transport", "outcome"], registry=r
        )
        self.certificates_created = Counter("fleetplane_certificates_created_total", "Certificates created.", registry=r)
        self.grpc_streams = Gauge("fleetplane_grpc_heartbeat_streams", "Open gRPC heartbeat streams.", registry=r)
        self.pushes = Counter("fleetplane_grpc_pushes_total", "Messages pushed to agents.", ["kind"], registry=r)
        self.task_updates = Counter(
            "fleetplane_grpc_task_updates_total", "Task progress messages by state.", ["state"], registry=r
        )
        self.check_results = Counter(
            "fleetplane_grpc_check_results_total", "Check results by outcome.", ["outcome"], registry=r
        )
        self.query_results = Counter(
            "fleetplane_grpc_query_results_total",
            "Query answers by query kind (list_ports, list_services; error when the agent could not answer).",
            ["kind"],
            registry=r,
        )
        self.terminal_opened = Counter(
            "fleetplane_grpc_terminal_sessions_opened_total", "Terminal sessions opened by agents.", registry=r
        )
        self.terminal_closed = Counter(
            "fleetplane_grpc_terminal_sessions_closed_total",
            "Terminal sessions the agent closed cleanly (half-close).",
            registry=r,
        )
        self.terminal_bytes = Counter(
            "fleetplane_grpc_terminal_output_bytes_total", "Terminal output bytes received (banners).", registry=r
        )
        self.inventory_packages = Counter(
            "fleetplane_inventory_packages_total", "Inventory packages received.", registry=r
        )
        self.jobs = Gauge("fleetplane_jobs", "Jobs by status (refreshed on scrape).", ["status"], registry=r)
        self.certificates = Gauge(
            "fleetplane_certificates", "Certificates by status (refreshed on scrape).", ["status"], registry=r
        )
        self.renewals = Counter("fleetplane_renewal_jobs_finished_total", "Renewal jobs finished.", ["by", "outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
