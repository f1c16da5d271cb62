"""Apply ``fleetplane/migrations/NNNN_*.sql`` in order, once each.

Files hold portable SQL separated by ``;`` at end of line. Progress is kept in
``schema_migrations``; on PostgreSQL an advisory lock makes concurrent starts
(several targets on one database) safe.
"""

from __future__ import annotations

from importlib import resources

from fleetplane.db.base import Database
from fleetplane.timeutil import now_str

_LOCK_KEY = 7_242_019  # arbitrary, constant: "fleetplane migrations"


def migration_files() -> list[tuple[str, str]]:
    pkg = resources.files("fleetplane.migrations")
    out = []
    for entry in pkg.iterdir():
        if entry.name.endswith(".sql"):
            out.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(out)


def split_statements(script: str) -> list[str]:
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";").strip()]


async def migrate(db: Database) -> list[str]:
    applied_now: list[str] = []
    async with db.transaction() as tx:
        if tx.dialect == "postgres":
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {r["version"] for r in await tx.fetchall("SELECT version FROM schema_migrations")}
        for version, script in migration_files():
            if version in done:
                continue
            for stmt in split_statements(script):
                await tx.execute(stmt.rstrip(";"))
            await tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, now_str())
            )
            applied_now.append(version)
    return applied_now
