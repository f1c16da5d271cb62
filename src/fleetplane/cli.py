"""Click commands ``target`` and ``seed`` (registered by fleetload as ``fleetload target|seed``)."""

from __future__ import annotations

import os
import tempfile

import click

from fleetplane.config import DEFAULT_GRPC_LISTEN, DEFAULT_LISTEN, DEV_API_KEY, TargetConfig
from fleetplane.profile import PROFILES, get_profile
from fleetplane.profile_settings import profile_settings


def _prob(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter("must be between 0 and 1")
    return value


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from fleetplane.timeutil import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("target")
@click.option("--profile", "profile_name", type=click.Choice(sorted(PROFILES)), default="fleetplane",
              show_default=True, envvar="FLEETPLANE_PROFILE",
              help="Whose conventions to follow: fleetplane's own, or certctl's where they differ "
                   "(docs/target.md lists the differences).")
@click.option("--db", "db_url", default=None, metavar="URL",
              help="sqlite:///abs/path.db, sqlite://:memory: or postgresql://... "
                   "[default: sqlite file under $FLEETPLANE_DATA_DIR or the temp dir]")
@click.option("--pool-size", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Database connection pool size (the saturation knob).")
@click.option("--auth-secret", default=DEV_API_KEY, show_default=True, envvar="FLEETPLANE_AUTH_SECRET",
              help="API key(s) accepted as Bearer tokens, comma separated.")
@click.option("--admin-key", default=None, envvar="FLEETPLANE_ADMIN_KEY",
              help="Bearer key for /admin routes (disabled when unset).")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), default=None, metavar="RPS",
              help="Token-bucket limit: on /api and /acme, off by default (fleetplane); per client "
                   "IP on every path, 50/s by default (certctl, also CERTCTL_RATE_LIMIT_RPS).")
@click.option("--rate-limit-burst", type=click.IntRange(1), default=None, metavar="N",
              help="Bucket size [default: ceil(RPS); certctl: 100, also CERTCTL_RATE_LIMIT_BURST].")
@click.option("--no-rate-limit", is_flag=True,
              help="No rate limit (certctl: also CERTCTL_RATE_LIMIT_ENABLED=false).")
@click.option("--keygen-mode", type=click.Choice(["agent", "server"]), default=None,
              help="agent: renewal jobs start AwaitingCSR until the agent's CSR; server: Pending "
                   "[default: server; certctl: agent, also CERTCTL_KEYGEN_MODE].")
@click.option("--renewal-check-interval", default=None, callback=_duration, metavar="DURATION",
              help="The scheduler's renewal check, at start-up and then every DURATION: certificates "
                   "expiring within 31 days go RenewalInProgress; 0 = off [default: off; certctl: 1h].")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT")
@click.option("--grpc-listen", default=DEFAULT_GRPC_LISTEN, show_default=True, metavar="HOST:PORT")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a generated self-signed certificate.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--client-ca", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="PEM CA bundle: require client certificates it signs (REST and gRPC); needs "
                   "--tls or --tls-cert. REST agent registration also checks the certificate "
                   "names the agent's hostname.")
@click.option("--auto-approve/--no-auto-approve", default=True, show_default=True,
              help="Approve gRPC registrations immediately (else they stay PENDING).")
@click.option("--push-task-prob", default=0.02, show_default=True, callback=_prob,
              help="Chance per gRPC heartbeat of pushing a task.")
@click.option("--push-check-prob", default=0.02, show_default=True, callback=_prob,
              help="Chance per gRPC heartbeat of pushing a check.")
@click.option("--push-inventory-prob", default=0.01, show_default=True, callback=_prob,
              help="Chance per gRPC heartbeat of requesting an inventory.")
@click.option("--push-terminal-prob", default=0.01, show_default=True, callback=_prob,
              help="Chance per gRPC heartbeat of requesting a terminal session.")
@click.option("--push-query-prob", default=0.01, show_default=True, callback=_prob,
              help="Chance per gRPC heartbeat of pushing a query (list_ports or list_services).")
@click.option("--renewal-workers", default=2, show_default=True, type=click.IntRange(0, 256),
              help="Built-in workers completing pending renewal jobs.")
@click.option("--renewal-latency", default=0.05, show_default=True, type=click.FloatRange(0),
              help="Seconds each built-in worker spends per renewal job.")
@click.option("--heartbeat-interval-ms", default=10_000, show_default=True, type=click.IntRange(1),
              help="Heartbeat interval suggested to gRPC agents.")
@click.option("--db-latency", default="0", show_default=True, callback=_duration, metavar="DURATION",
              help="Extra time every database transaction holds its pooled connection (e.g. 20ms): "
                   "models a remote database; the pool then serves at most pool-size/latency tx/s.")
@click.option("--unhealthy-after-overload", default=None, callback=_duration, metavar="SECONDS",
              help="/healthz answers 503 while more than --overload-waiting requests wait for the "
                   "pool and for SECONDS after (off by default).")
@click.option("--overload-waiting", default=None, type=click.IntRange(0), metavar="N",
              help="Pool waiters above which the target counts as overloaded [default: --pool-size].")
def target(
    profile_name: str, db_url: str | None, pool_size: int, auth_secret: str, admin_key: str | None,
    rate_limit: float | None, rate_limit_burst: int | None, no_rate_limit: bool,
    keygen_mode: str | None, renewal_check_interval: float | None, listen: str, grpc_listen: str,
    tls: bool, tls_cert: str | None, tls_key: str | None, client_ca: str | None, auto_approve: bool,
    push_task_prob: float, push_check_prob: float, push_inventory_prob: float,
    push_terminal_prob: float, push_query_prob: float,
    renewal_workers: int, renewal_latency: float, heartbeat_interval_ms: int,
    db_latency: float, unhealthy_after_overload: float | None, overload_waiting: int | None,
) -> None:  # fmt: skip
    """Run the fleetplane reference control plane (REST + ACME + gRPC) on loopback."""
    from fleetplane.server import run

    keys = tuple(k.strip() for k in auth_secret.split(",") if k.strip())
    if not keys:
        raise click.BadParameter("at least one API key is required", param_hint="--auth-secret")
    if (tls_cert is None) != (tls_key is None):
        raise click.BadParameter("--tls-cert and --tls-key go together")
    if client_ca is not None and not tls and tls_cert is None:
        raise click.BadParameter("--client-ca needs --tls or --tls-cert/--tls-key", param_hint="--client-ca")
    if tls and tls_cert is None:
        from fleetplane.tlsgen import write_self_signed

        tls_cert, tls_key = write_self_signed(tempfile.mkdtemp(prefix="fleetplane-tls-"))
        click.echo(f"fleetplane: self-signed certificate {tls_cert}", err=True)
    try:
        settings = profile_settings(
            get_profile(profile_name), rate_limit=rate_limit, rate_limit_burst=rate_limit_burst,
            no_rate_limit=no_rate_limit, keygen_mode=keygen_mode,
            renewal_check_interval=renewal_check_interval, env=os.environ,
        )  # fmt: skip
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    run(
        TargetConfig(
            profile=profile_name, db_url=db_url, pool_size=pool_size, api_keys=keys,
            admin_key=admin_key or None, rate_limit=settings.rate_limit,
            rate_limit_burst=settings.rate_limit_burst, keygen_mode=settings.keygen_mode,
            renewal_check_interval=settings.renewal_check_interval, listen=listen,
            grpc_listen=grpc_listen, tls_cert=tls_cert, tls_key=tls_key, client_ca=client_ca,
            auto_approve=auto_approve,
            push_task_prob=push_task_prob, push_check_prob=push_check_prob,
            push_inventory_prob=push_inventory_prob, push_terminal_prob=push_terminal_prob,
            push_query_prob=push_query_prob, renewal_workers=renewal_workers,
            renewal_latency=renewal_latency, heartbeat_interval_ms=heartbeat_interval_ms,
            db_latency=db_latency, unhealthy_after_overload=unhealthy_after_overload,
            overload_waiting=overload_waiting,
        )
    )  # fmt: skip


@click.command("seed")
@click.option("--db", "db_url", default=None, metavar="URL", help="Database to seed directly.")
@click.option("--target", "--target-url", "target_url", default=None, metavar="URL",
              help="Seed through a running target's REST API instead.")
@click.option("--token", "--api-key", "api_key", default=DEV_API_KEY, show_default=True,
              envvar="FLEETPLANE_API_KEY", help="API token for --target.")
@click.option("--certs", default=10_000, show_default=True, type=click.IntRange(0))
@click.option("--agents", default=5_000, show_default=True, type=click.IntRange(0))
@click.option("--insecure", is_flag=True, help="Skip TLS verification for --target.")
def seed(
    db_url: str | None, target_url: str | None, api_key: str, certs: int, agents: int, insecure: bool
) -> None:
    """Load the certctl load-test fixtures (loadtest-bulk-NNNNN certs, ag-loadtest-NNNNN agents)."""
    from fleetplane.seed import seed_database
    from fleetplane.seed_api import seed_via_api

    if db_url and target_url:
        raise click.BadParameter("give --db or --target, not both")
    if target_url:
        result = seed_via_api(target_url, api_key, certs=certs, agents=agents, verify_tls=not insecure)
    else:
        result = seed_database(db_url or os.environ.get("FLEETPLANE_DB"), certs=certs, agents=agents)
    click.echo(result.summary())


@click.group()
def main() -> None:
    """fleetplane reference control plane."""


main.add_command(target)
main.add_command(seed)
