"""The certctl load-test fixtures: bulk certificates and agents.

Certificates ``loadtest-bulk-00001``.. (issuer iss-local, owner o-alice, team
t-platform, policy rp-standard, Active, expiring over the next 30 days) and
agents ``ag-loadtest-00001``.. whose id equals their name (so scripts can hit
``/api/v1/agents/ag-loadtest-00042/heartbeat`` directly), online with
heartbeats staggered over the last 60 s, 80/10/10 linux/windows/darwin.
Seeding is idempotent: existing names/ids are skipped. Fixtures carry no
``run_id``, so run cleanup never removes them. Seeding through a running
target's API is :mod:`fleetplane.seed_api`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleetplane.ari import issuer_aki
from fleetplane.db import Database, open_database
from fleetplane.repo import agents as agents_repo
from fleetplane.repo import certificates as certs_repo
from fleetplane.timeutil import fmt, now

FIXTURE_TAGS = {"fixture": "certctl-loadtest"}
_OS = ("linux",) * 8 + ("windows", "darwin")
_ARCH = ("amd64", "arm64")


@dataclass(frozen=True)
class SeedResult:
    certs_added: int
    certs_skipped: int
    agents_added: int
    agents_skipped: int
    seconds: float
    via: str

    def summary(self) -> str:
        return (
            f"seeded via {self.via} in {self.seconds:.2f}s: certificates added {self.certs_added}, "
            f"skipped {self.certs_skipped}; agents added {self.agents_added}, skipped {self.agents_skipped}"
        )


def cert_name(i: int) -> str:
    return f"loadtest-bulk-{i:05d}"


def agent_id(i: int) -> str:
    return f"ag-loadtest-{i:05d}"


def _serial(name: str) -> int:
    # Deterministic, so a re-seed or a second database gives the same ARI ids.
    return (int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1) | 1


def cert_fields(i: int, total: int, t: datetime) -> dict[str, Any]:
    name = cert_name(i)
    expires = t + timedelta(seconds=60 + (30 * 86400 - 120) * (i - 1) / max(1, total - 1))
    return {
        "name": name,
        "common_name": f"{name}.example.com",
        "owner_id": "o-alice",
        "team_id": "t-platform",
        "issuer_id": "iss-local",
        "renewal_policy_id": "rp-standard",
        "profile_id": "prof-default",
        "environment": "loadtest",
        "expires_at": fmt(expires),
        "tags": FIXTURE_TAGS,
    }


def agent_fields(i: int) -> dict[str, Any]:
    aid = agent_id(i)
    return {
        "id": aid,
        "name": aid,
        "hostname": f"loadtest-{i:05d}.fleet.local",
        "os": _OS[i % 10],
        "architecture": _ARCH[i % 2],
        "version": "1.0.0",
        "labels": FIXTURE_TAGS,
    }


def _cert_rows(indices: list[int], total: int, t: datetime) -> Iterator[tuple[Any, ...]]:
    aki = issuer_aki("iss-local").hex()
    stamp = fmt(t)
    for i in indices:
        f = cert_fields(i, total, t)
        yield (
            f"mc-{f['name']}", f["name"], f["common_name"], "[]", f["environment"], f["owner_id"],
            f["team_id"], f["issuer_id"], f["renewal_policy_id"], f["profile_id"], "Active",
            f["expires_at"], json.dumps(FIXTURE_TAGS, sort_keys=True), None,
            format(_serial(f["name"]), "x"), aki, stamp, stamp,
        )  # fmt: skip


_CERT_COLS = (
    "id", "name", "common_name", "sans", "environment", "owner_id", "team_id", "issuer_id",
    "renewal_policy_id", "profile_id", "status", "expires_at", "tags", "run_id", "serial_hex",
    "aki_hex", "created_at", "updated_at",
)  # fmt: skip
_AGENT_COLS = (
    "id", "name", "hostname", "os", "architecture", "version", "labels", "run_id", "status",
    "transport", "registered_at", "last_heartbeat_at",
)  # fmt: skip


def _agent_rows(indices: list[int], t: datetime) -> Iterator[tuple[Any, ...]]:
    registered = fmt(t - timedelta(hours=1))
    for i in indices:
        f = agent_fields(i)
        beat = t - timedelta(milliseconds=(i * 7919) % 60_000)
        yield (
            f["id"], f["name"], f["hostname"], f["os"], f["architecture"], f["version"],
            json.dumps(FIXTURE_TAGS, sort_keys=True), None, "Active", "seed", registered, fmt(beat),
        )  # fmt: skip


async def seed_db(db: Database, *, certs: int, agents: int) -> SeedResult:
    start = time.perf_counter()
    t = now()
    async with db.transaction() as tx:
        names = [cert_name(i) for i in range(1, certs + 1)]
        have_certs = await certs_repo.existing_names(tx, names)
        cert_idx = [i for i in range(1, certs + 1) if cert_name(i) not in have_certs]
        ids = [agent_id(i) for i in range(1, agents + 1)]
        have_agents = await agents_repo.existing_ids(tx, ids)
        agent_idx = [i for i in range(1, agents + 1) if agent_id(i) not in have_agents]
        if cert_idx:
            await tx.copy_rows("certificates", _CERT_COLS, _cert_rows(cert_idx, certs, t))
        if agent_idx:
            await tx.copy_rows("agents", _AGENT_COLS, _agent_rows(agent_idx, t))
    return SeedResult(
        certs_added=len(cert_idx),
        certs_skipped=certs - len(cert_idx),
        agents_added=len(agent_idx),
        agents_skipped=agents - len(agent_idx),
        seconds=time.perf_counter() - start,
        via=db.dialect,
    )


def seed_database(url: str | None, *, certs: int = 10_000, agents: int = 5_000) -> SeedResult:
    """Seed a database directly (COPY on PostgreSQL, one transaction on SQLite)."""

    async def go() -> SeedResult:
        db = await open_database(url, pool_size=1)
        try:
            return await seed_db(db, certs=certs, agents=agents)
        finally:
            await db.close()

    return asyncio.run(go())
