"""Run HTTP (uvicorn) and gRPC (grpc.aio) in one process and one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import ssl
import sys
from collections.abc import Callable

import uvicorn

from fleetplane.app import build_app
from fleetplane.auth import mask
from fleetplane.config import DEV_API_KEY, TargetConfig, split_host_port
from fleetplane.db import Database, open_database
from fleetplane.db.shaping import OverloadWatch, SlowDatabase
from fleetplane.grpc_ingest import build_grpc_server
from fleetplane.metrics import Metrics
from fleetplane.renewal import check_expiring, renewal_checks, start_workers
from fleetplane.repo.lookups import load_lookups
from fleetplane.state import AppState
from fleetplane.tls_alert import send_handshake_alerts
from fleetplane.tls_peer import PeerCertHttpToolsProtocol

log = logging.getLogger("fleetplane")


def _redact_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def banner(cfg: TargetConfig, http_url: str, grpc_target: str, db_url: str, pool: int,
           renewals_at_start: int = 0) -> str:  # fmt: skip
    keys = ",".join(k if k == DEV_API_KEY else mask(k) for k in cfg.api_keys)
    admin = mask(cfg.admin_key) if cfg.admin_key else "disabled"
    shaping = ""
    if cfg.db_latency > 0:
        shaping += f" db-latency={cfg.db_latency * 1000:g}ms"
    if cfg.unhealthy_after_overload is not None:
        shaping += f" unhealthy-after-overload={cfg.unhealthy_after_overload:g}s"
    profile = ""
    if cfg.profile != "fleetplane":
        limit = (f"{cfg.rate_limit:g}/s burst {cfg.rate_limit_burst or 'ceil(rate)'} per client"
                 if cfg.rate_limit else "off")  # fmt: skip
        check = f"every {cfg.renewal_check_interval:g}s" if cfg.renewal_check_interval else "off"
        profile = (f" profile={cfg.profile} rate-limit={limit} keygen={cfg.keygen_mode}"
                   f" renewal-check={check} renewals-at-start={renewals_at_start}")  # fmt: skip
    return (
        f"fleetplane ready: api={http_url} grpc={grpc_target} db={_redact_url(db_url)} "
        f"pool={pool}{shaping}{profile} api-key={keys} admin-key={admin}"
        + (" client-certificates=required" if cfg.client_ca else "")
    )


def shape(db: Database, cfg: TargetConfig) -> tuple[Database, OverloadWatch | None]:
    """Wrap the database for --db-latency / --unhealthy-after-overload (as is when both are off)."""
    watch = None
    if cfg.unhealthy_after_overload is not None:
        threshold = cfg.overload_waiting if cfg.overload_waiting is not None else db.stats().size
        watch = OverloadWatch(db.stats, threshold, cfg.unhealthy_after_overload)
    if cfg.db_latency <= 0 and watch is None:
        return db, None
    return SlowDatabase(db, cfg.db_latency, watch), watch


async def serve(cfg: TargetConfig, announce: Callable[[str], None] | None = None) -> None:
    db, overload = shape(await open_database(cfg.db_url, cfg.pool_size), cfg)
    workers: list[asyncio.Task[None]] = []
    grpc_server = None
    try:
        async with db.transaction(write=False) as tx:
            lookups = await load_lookups(tx)
        state = AppState(config=cfg, db=db, metrics=Metrics(db.stats), lookups=lookups, overload=overload)
        grpc_address = "off"
        if cfg.prof.grpc_ingest:
            grpc_server, grpc_port = build_grpc_server(state, cfg.grpc_listen)
            await grpc_server.start()
            grpc_scheme = "grpcs://" if cfg.tls else ""  # the gRPC port serves TLS with HTTPS
            grpc_address = f"{grpc_scheme}{cfg.grpc_listen.rpartition(':')[0].strip('[]')}:{grpc_port}"
        renewals_at_start = 0
        if cfg.renewal_check_interval:
            # certctl's scheduler checks once before serving, then every interval.
            renewals_at_start = await check_expiring(state)
            workers.append(asyncio.create_task(renewal_checks(state, cfg.renewal_check_interval),
                                               name="renewal-checks"))  # fmt: skip
        workers += start_workers(state)
        host, port = split_host_port(cfg.listen)
        config = uvicorn.Config(
            build_app(state),
            host=host,
            port=port,
            http=PeerCertHttpToolsProtocol if cfg.client_ca else "httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            server_header=False,
            ssl_certfile=cfg.tls_cert,
            ssl_keyfile=cfg.tls_key,
            ssl_cert_reqs=ssl.CERT_REQUIRED if cfg.client_ca else ssl.CERT_NONE,
            ssl_ca_certs=cfg.client_ca,
            timeout_graceful_shutdown=5,
        )
        config.load()
        if config.ssl is not None:
            send_handshake_alerts(config.ssl)
        server = uvicorn.Server(config)
        scheme = "https" if cfg.tls else "http"

        async def announce_when_started() -> None:
            while not server.started:
                await asyncio.sleep(0.02)
            line = banner(cfg, f"{scheme}://{host}:{port}", grpc_address, db.url, db.stats().size,
                          renewals_at_start)  # fmt: skip
            (announce or _print)(line)

        announcer = asyncio.create_task(announce_when_started())
        try:
            await server.serve()
        finally:
            announcer.cancel()
    finally:
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if grpc_server is not None:
            await grpc_server.stop(grace=2)
        await db.close()


def _print(line: str) -> None:
    print(line, flush=True)


def run(cfg: TargetConfig) -> None:
    """Blocking entry point: uvloop, clean stop on SIGINT/SIGTERM."""
    import uvloop

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvicorn re-raises the stop signal after its graceful shutdown; with these
    # handlers installed first, that re-raise lands here instead of killing the
    # process before gRPC and the pool are closed.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(serve(cfg))
        except (OSError, ValueError) as exc:
            # Bad --db URL, unreachable database, port in use: one clear line.
            print(f"fleetplane: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(1) from None
