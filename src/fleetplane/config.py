"""Runtime configuration of one target process."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetplane.profile import Profile, get_profile

DEV_API_KEY = "fleetload-dev-key"
DEFAULT_LISTEN = "127.0.0.1:8443"
DEFAULT_GRPC_LISTEN = "127.0.0.1:9443"
# An agent is Online when its last heartbeat is newer than this.
ONLINE_WINDOW_S = 300.0


@dataclass(frozen=True)
class TargetConfig:
    # "fleetplane" or "certctl" (fleetplane.profile); the fields below hold
    # resolved values, the profile's defaults already applied by the CLI.
    profile: str = "fleetplane"
    db_url: str | None = None
    pool_size: int = 10
    api_keys: tuple[str, ...] = (DEV_API_KEY,)
    admin_key: str | None = None
    rate_limit: float | None = None
    rate_limit_burst: int | None = None
    # "agent": renewal jobs start AwaitingCSR (the agent makes the key);
    # "server": they start Pending.
    keygen_mode: str = "server"
    # Seconds between scheduler renewal checks, the first at start-up (None: off).
    renewal_check_interval: float | None = None
    listen: str = DEFAULT_LISTEN
    grpc_listen: str = DEFAULT_GRPC_LISTEN
    tls_cert: str | None = None
    tls_key: str | None = None
    # PEM CA bundle: require and verify client certificates (REST and gRPC).
    client_ca: str | None = None
    auto_approve: bool = True
    push_task_prob: float = 0.02
    push_check_prob: float = 0.02
    push_inventory_prob: float = 0.01
    push_terminal_prob: float = 0.01
    push_query_prob: float = 0.01
    renewal_workers: int = 2
    renewal_latency: float = 0.05
    heartbeat_interval_ms: int = 10_000
    # Extra seconds every transaction holds its pooled connection (--db-latency).
    db_latency: float = 0.0
    # /healthz is 503 while more than overload_waiting callers wait for the pool
    # (None: the pool size) and for this many seconds after (None: off).
    unhealthy_after_overload: float | None = None
    overload_waiting: int | None = None
    max_body: int = 1024 * 1024
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def prof(self) -> Profile:
        return get_profile(self.profile)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def split_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
