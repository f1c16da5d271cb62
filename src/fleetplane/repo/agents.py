"""Agent rows, shared by REST registration/heartbeats and gRPC ingest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetplane.db import Row, Tx
from fleetplane.pagination import CursorSpec, PageResult, PageSpec, Sort, fetch

COLUMNS = (
    "id", "name", "hostname", "os", "architecture", "version", "labels", "run_id", "status",
    "transport", "public_key_hex", "registered_at", "last_heartbeat_at", "retired_at",
    "heartbeat_count", "pushes_sent", "task_results", "task_failures", "check_results",
    "check_failures", "inventory_packages",
)  # fmt: skip
INSERT_COLUMNS = (
    "id", "name", "hostname", "os", "architecture", "version", "labels", "run_id", "status",
    "transport", "public_key_hex", "token_hash", "registered_at", "last_heartbeat_at",
)  # fmt: skip
SORTABLE = ("name", "registered_at", "last_heartbeat_at")
# Derived statuses shown by the API; stored status is Active | Pending | Retired.
API_STATUSES = ("Online", "Offline", "Pending", "Retired")

_SELECT = ", ".join(COLUMNS)
_CHUNK = 500


@dataclass(frozen=True)
class GrpcCounters:
    heartbeats: int = 0
    pushes: int = 0
    task_results: int = 0
    task_failures: int = 0
    check_results: int = 0
    check_failures: int = 0
    inventory_packages: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())


async def insert(tx: Tx, row: Row) -> str | None:
    """Insert an agent; returns None, or the conflicting field ("id"/"name")."""
    marks = ", ".join("?" for _ in INSERT_COLUMNS)
    n = await tx.execute(
        f"INSERT INTO agents ({', '.join(INSERT_COLUMNS)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
        [row.get(c) for c in INSERT_COLUMNS],
    )
    if n == 1:
        return None
    hit = await tx.fetchone("SELECT id FROM agents WHERE id = ?", (row["id"],))
    return "id" if hit else "name"


async def get(tx: Tx, agent_id: str) -> Row | None:
    return await tx.fetchone(f"SELECT {_SELECT} FROM agents WHERE id = ?", (agent_id,))


async def get_by_token_hash(tx: Tx, token_hash: str) -> Row | None:
    return await tx.fetchone(f"SELECT {_SELECT} FROM agents WHERE token_hash = ?", (token_hash,))


async def list_page(
    tx: Tx, status: str | None, online_since: str, sort: Sort, spec: PageSpec | CursorSpec
) -> PageResult:
    where: list[str] = []
    params: list[Any] = []
    if status == "Online":
        where.append("status = 'Active' AND last_heartbeat_at >= ?")
        params.append(online_since)
    elif status == "Offline":
        where.append("status = 'Active' AND (last_heartbeat_at IS NULL OR last_heartbeat_at < ?)")
        params.append(online_since)
    elif status == "Pending":
        where.append("status = 'Pending'")
    elif status == "Retired":
        where.append("status = 'Retired'")
    return await fetch(tx, columns=_SELECT, table="agents", where=where, params=params, sort=sort, spec=spec)


async def heartbeat(tx: Tx, agent_id: str, now: str, version: str | None) -> int:
    """Record a heartbeat of an active agent; 0 rows means unknown, pending or retired."""
    return await tx.execute(
        "UPDATE agents SET last_heartbeat_at = ?, heartbeat_count = heartbeat_count + 1, "
        "version = COALESCE(?, version) WHERE id = ? AND status = 'Active'",
        (now, version, agent_id),
    )


async def status_of(tx: Tx, agent_id: str) -> str | None:
    row = await tx.fetchone("SELECT status FROM agents WHERE id = ?", (agent_id,))
    return None if row is None else str(row["status"])


async def retire(tx: Tx, agent_id: str, now: str) -> int:
    return await tx.execute(
        "UPDATE agents SET status = 'Retired', retired_at = ?, token_hash = NULL "
        "WHERE id = ? AND status != 'Retired'",
        (now, agent_id),
    )


async def add_grpc_activity(tx: Tx, agent_id: str, now: str | None, c: GrpcCounters) -> None:
    # One UPDATE per heartbeat carries every counter accumulated since the last
    # one, so stream traffic costs one write per heartbeat, not per message.
    await tx.execute(
        "UPDATE agents SET last_heartbeat_at = COALESCE(?, last_heartbeat_at), "
        "heartbeat_count = heartbeat_count + ?, pushes_sent = pushes_sent + ?, "
        "task_results = task_results + ?, task_failures = task_failures + ?, "
        "check_results = check_results + ?, check_failures = check_failures + ?, "
        "inventory_packages = inventory_packages + ? WHERE id = ?",
        (
            now, c.heartbeats, c.pushes, c.task_results, c.task_failures, c.check_results,
            c.check_failures, c.inventory_packages, agent_id,
        ),
    )  # fmt: skip


async def online_ids(tx: Tx, since: str, limit: int = 1000) -> list[str]:
    rows = await tx.fetchall(
        "SELECT id FROM agents WHERE status = 'Active' AND last_heartbeat_at >= ? ORDER BY id LIMIT ?",
        (since, limit),
    )
    return [r["id"] for r in rows]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def ids_for_run(tx: Tx, run_id: str) -> list[str]:
    rows = await tx.fetchall(
        "SELECT id FROM agents WHERE run_id = ? OR hostname LIKE ? ESCAPE '\\'",
        (run_id, "%" + _like_escape(run_id) + "%"),
    )
    return [r["id"] for r in rows]


async def remove_many(tx: Tx, ids: Sequence[str]) -> int:
    n = 0
    for i in range(0, len(ids), _CHUNK):
        chunk = list(ids[i : i + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        n += await tx.execute(f"DELETE FROM agents WHERE id IN ({marks})", chunk)
    return n


async def existing_ids(tx: Tx, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), _CHUNK):
        chunk = list(ids[i : i + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        rows = await tx.fetchall(f"SELECT id FROM agents WHERE id IN ({marks})", chunk)
        found.update(r["id"] for r in rows)
    return found


async def count(tx: Tx) -> int:
    row = await tx.fetchone("SELECT COUNT(*) AS n FROM agents")
    return int(row["n"]) if row else 0
