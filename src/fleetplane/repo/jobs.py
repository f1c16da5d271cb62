"""Job rows (renewal jobs created by bulk renew)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetplane.db import Row, Tx
from fleetplane.pagination import CursorSpec, PageResult, PageSpec, Sort, fetch

COLUMNS = (
    "id", "type", "certificate_id", "agent_id", "status", "message", "attempts", "claimed_by",
    "created_at", "updated_at", "started_at", "completed_at",
)  # fmt: skip
# certctl's job states. AwaitingCSR: the agent generates the key and must
# submit a CSR (agent keygen); AwaitingApproval: held for an approver.
STATUSES = ("Pending", "AwaitingCSR", "AwaitingApproval", "Running", "Completed", "Failed", "Cancelled")
TYPES = ("Renewal",)
TERMINAL = ("Completed", "Failed", "Cancelled")
# Allowed status reports per current status (anything else is a 409).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "Pending": ("Running", "Completed", "Failed"),
    "AwaitingCSR": ("Running", "Completed", "Failed"),
    "Running": ("Running", "Completed", "Failed"),
}
SORTABLE = ("created_at", "updated_at", "status")

_SELECT = ", ".join(COLUMNS)
_CHUNK = 500


@dataclass(frozen=True)
class JobFilters:
    status: str | None = None
    type: str | None = None
    certificate_id: str | None = None
    agent_id: str | None = None


async def insert_many(tx: Tx, rows: Sequence[Row]) -> None:
    if not rows:
        return
    cols = ("id", "type", "certificate_id", "agent_id", "status", "created_at", "updated_at")
    marks = ", ".join("?" for _ in cols)
    await tx.executemany(
        f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({marks})", [[r[c] for c in cols] for r in rows]
    )


async def get(tx: Tx, job_id: str) -> Row | None:
    return await tx.fetchone(f"SELECT {_SELECT} FROM jobs WHERE id = ?", (job_id,))


async def list_page(tx: Tx, f: JobFilters, sort: Sort, spec: PageSpec | CursorSpec) -> PageResult:
    where: list[str] = []
    params: list[Any] = []
    for col in ("status", "type", "certificate_id", "agent_id"):
        value = getattr(f, col)
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    return await fetch(tx, columns=_SELECT, table="jobs", where=where, params=params, sort=sort, spec=spec)


async def claim_for_agent(tx: Tx, agent_id: str, now: str, limit: int = 100) -> list[Row]:
    return await tx.fetchall(
        f"UPDATE jobs SET status = 'Running', claimed_by = ?, started_at = ?, updated_at = ?, "
        f"attempts = attempts + 1 WHERE id IN (SELECT id FROM jobs WHERE agent_id = ? AND "
        f"status = 'Pending' ORDER BY created_at, id LIMIT ?) AND status = 'Pending' RETURNING {_SELECT}",
        (agent_id, now, now, agent_id, limit),
    )


async def claim_next(tx: Tx, worker: str, now: str, status: str = "Pending") -> Row | None:
    """Claim the oldest job in ``status`` for the built-in renewal worker."""
    # SKIP LOCKED keeps PostgreSQL workers off each other's rows; SQLite has a
    # single writer so the re-check of status is enough there.
    lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    rows = await tx.fetchall(
        f"UPDATE jobs SET status = 'Running', claimed_by = ?, started_at = ?, updated_at = ?, "
        f"attempts = attempts + 1 WHERE id = (SELECT id FROM jobs WHERE status = ? "
        f"ORDER BY created_at, id LIMIT 1{lock}) AND status = ? RETURNING {_SELECT}",
        (worker, now, now, status, status),
    )
    return rows[0] if rows else None


async def awaiting_csr_for_agent(tx: Tx, agent_id: str, limit: int = 100) -> list[Row]:
    """The agent's jobs waiting for its CSR (a work poll lists them, unclaimed)."""
    return await tx.fetchall(
        f"SELECT {_SELECT} FROM jobs WHERE agent_id = ? AND status = 'AwaitingCSR' "
        "ORDER BY created_at, id LIMIT ?",
        (agent_id, limit),
    )


async def awaiting_csr_for_certificate(tx: Tx, cert_id: str) -> Row | None:
    return await tx.fetchone(
        f"SELECT {_SELECT} FROM jobs WHERE certificate_id = ? AND status = 'AwaitingCSR' "
        "ORDER BY created_at, id LIMIT 1",
        (cert_id,),
    )


async def set_status(tx: Tx, job_id: str, expected: str, status: str, message: str | None, now: str) -> bool:
    """Compare-and-set the status; False when another writer changed it first."""
    done = now if status in TERMINAL else None
    started = now if status == "Running" else None
    n = await tx.execute(
        "UPDATE jobs SET status = ?, message = COALESCE(?, message), updated_at = ?, "
        "completed_at = COALESCE(?, completed_at), started_at = COALESCE(started_at, ?) "
        "WHERE id = ? AND status = ?",
        (status, message, now, done, started, job_id, expected),
    )
    return n == 1


async def delete_for_certificates(tx: Tx, cert_ids: Sequence[str]) -> int:
    marks = ", ".join("?" for _ in cert_ids)
    return await tx.execute(f"DELETE FROM jobs WHERE certificate_id IN ({marks})", list(cert_ids))


async def release_agents(tx: Tx, agent_ids: Sequence[str], now: str) -> None:
    """Hand unfinished jobs of removed agents back to the queue."""
    for i in range(0, len(agent_ids), _CHUNK):
        chunk = list(agent_ids[i : i + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        await tx.execute(
            f"UPDATE jobs SET agent_id = NULL, status = 'Pending', claimed_by = NULL, updated_at = ? "
            f"WHERE agent_id IN ({marks}) AND status IN ('Pending', 'Running', 'AwaitingCSR')",
            [now, *chunk],
        )


async def counts_by_status(tx: Tx) -> dict[str, int]:
    rows = await tx.fetchall("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}
