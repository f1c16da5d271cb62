"""Certificate rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetplane.db import Row, Tx
from fleetplane.pagination import CursorSpec, PageResult, PageSpec, Sort, fetch
from fleetplane.repo import jobs as jobs_repo

COLUMNS = (
    "id", "name", "common_name", "sans", "environment", "owner_id", "team_id", "issuer_id",
    "renewal_policy_id", "profile_id", "status", "expires_at", "tags", "run_id", "serial_hex",
    "aki_hex", "created_at", "updated_at", "last_renewed_at",
)  # fmt: skip
SORTABLE = ("name", "common_name", "status", "expires_at", "created_at", "updated_at")
STATUSES = ("Pending", "Active", "RenewalInProgress", "Failed", "Expired", "Revoked", "Archived")

_SELECT = ", ".join(COLUMNS)
_CHUNK = 500


@dataclass(frozen=True)
class CertFilters:
    status: str | None = None
    environment: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    issuer_id: str | None = None
    expires_before: str | None = None
    expires_after: str | None = None


async def insert(tx: Tx, row: Row) -> bool:
    """Insert one certificate; False when the name (or id) already exists."""
    cols = [c for c in COLUMNS if c in row]
    marks = ", ".join("?" for _ in cols)
    n = await tx.execute(
        f"INSERT INTO certificates ({', '.join(cols)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
        [row[c] for c in cols],
    )
    return n == 1


async def get(tx: Tx, cert_id: str) -> Row | None:
    return await tx.fetchone(f"SELECT {_SELECT} FROM certificates WHERE id = ?", (cert_id,))


async def get_by_ari(tx: Tx, serial_hex: str, aki_hex: str) -> Row | None:
    return await tx.fetchone(
        f"SELECT {_SELECT} FROM certificates WHERE serial_hex = ? AND aki_hex = ?",
        (serial_hex, aki_hex),
    )


async def list_page(tx: Tx, f: CertFilters, sort: Sort, spec: PageSpec | CursorSpec) -> PageResult:
    where: list[str] = []
    params: list[Any] = []
    for col in ("status", "environment", "owner_id", "team_id", "issuer_id"):
        value = getattr(f, col)
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    if f.expires_before is not None:
        where.append("expires_at < ?")
        params.append(f.expires_before)
    if f.expires_after is not None:
        where.append("expires_at > ?")
        params.append(f.expires_after)
    return await fetch(
        tx, columns=_SELECT, table="certificates", where=where, params=params, sort=sort, spec=spec
    )


async def delete_many(tx: Tx, ids: Sequence[str]) -> tuple[int, int]:
    """Delete certificates and their jobs; returns (certificates, jobs) removed.

    The single deletion path: DELETE /certificates/{id} and the admin run
    cleanup both come through here.
    """
    certs = jobs = 0
    for i in range(0, len(ids), _CHUNK):
        chunk = list(ids[i : i + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        jobs += await jobs_repo.delete_for_certificates(tx, chunk)
        certs += await tx.execute(f"DELETE FROM certificates WHERE id IN ({marks})", chunk)
    return certs, jobs


async def ids_for_run(tx: Tx, run_id: str) -> list[str]:
    return [r["id"] for r in await tx.fetchall("SELECT id FROM certificates WHERE run_id = ?", (run_id,))]


async def find_for_bulk_renew(
    tx: Tx,
    *,
    team_id: str | None,
    issuer_id: str | None,
    owner_id: str | None,
    profile_id: str | None,
    certificate_ids: Sequence[str] | None,
    page: int | None = None,
) -> list[Row]:
    """Certificates matching the criteria and/or ids.

    With ``page`` (certctl), criteria match one repository page: the first
    ``page`` certificates by creation time, intersected with the ids if any.
    """
    where: list[str] = []
    params: list[Any] = []
    for col, value in (
        ("team_id", team_id),
        ("issuer_id", issuer_id),
        ("owner_id", owner_id),
        ("profile_id", profile_id),
    ):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    sql = f"SELECT id, status FROM certificates WHERE {' AND '.join(where) or '1=1'}"
    if page is not None and where:
        rows = await tx.fetchall(sql + " ORDER BY created_at, id LIMIT ?", [*params, page])
        if certificate_ids is None:
            return rows
        wanted = set(certificate_ids)
        return [r for r in rows if r["id"] in wanted]
    if certificate_ids is None:
        return await tx.fetchall(sql + " ORDER BY id", params)
    out: list[Row] = []
    for i in range(0, len(certificate_ids), _CHUNK):
        chunk = list(certificate_ids[i : i + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        out += await tx.fetchall(f"{sql} AND id IN ({marks}) ORDER BY id", [*params, *chunk])
    return out


async def set_status_many(tx: Tx, ids: Sequence[str], status: str, now: str) -> None:
    await tx.executemany(
        "UPDATE certificates SET status = ?, updated_at = ? WHERE id = ?",
        [(status, now, cid) for cid in ids],
    )


async def finish_renewal(tx: Tx, cert_id: str, *, ok: bool, expires_at: str, now: str) -> None:
    if ok:
        await tx.execute(
            "UPDATE certificates SET status = 'Active', expires_at = ?, updated_at = ?, "
            "last_renewed_at = ? WHERE id = ?",
            (expires_at, now, now, cert_id),
        )
    else:
        await tx.execute(
            "UPDATE certificates SET status = 'Failed', updated_at = ? WHERE id = ?", (now, cert_id)
        )


async def policy_validity_days(tx: Tx, cert_id: str) -> int:
    row = await tx.fetchone(
        "SELECT p.validity_days AS d FROM certificates c JOIN renewal_policies p "
        "ON p.id = c.renewal_policy_id WHERE c.id = ?",
        (cert_id,),
    )
    return int(row["d"]) if row else 90


async def existing_names(tx: Tx, names: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(names), _CHUNK):
        chunk = list(names[i : i + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        rows = await tx.fetchall(f"SELECT name FROM certificates WHERE name IN ({marks})", chunk)
        found.update(r["name"] for r in rows)
    return found


async def due_for_renewal(tx: Tx, before: str, skip: Sequence[str]) -> list[str]:
    """Certificates expiring before ``before``, not in ``skip`` and without a
    Pending or Running renewal job (certctl's scheduler renewal check)."""
    marks = ", ".join("?" for _ in skip)
    rows = await tx.fetchall(
        f"SELECT id FROM certificates c WHERE expires_at < ? AND status NOT IN ({marks}) "
        "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.certificate_id = c.id "
        "AND j.type = 'Renewal' AND j.status IN ('Pending', 'Running')) ORDER BY expires_at, id",
        [before, *skip],
    )
    return [r["id"] for r in rows]


async def counts_by_status(tx: Tx) -> dict[str, int]:
    rows = await tx.fetchall("SELECT status, COUNT(*) AS n FROM certificates GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}
