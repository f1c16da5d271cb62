"""Build a Database from a URL and bring its schema up to date."""

from __future__ import annotations

from fleetplane.db.base import Database
from fleetplane.db.migrate import migrate
from fleetplane.db.postgres import PostgresDatabase
from fleetplane.db.sqlite import SqliteDatabase
from fleetplane.db.url import parse_db_url


async def open_database(url: str | None, pool_size: int = 5, *, run_migrations: bool = True) -> Database:
    parsed = parse_db_url(url)
    db: Database
    if parsed.dialect == "postgres":
        db = PostgresDatabase(parsed.url, pool_size)
    else:
        assert parsed.path is not None
        db = SqliteDatabase(parsed.url, parsed.path, pool_size)
    await db.open()
    if run_migrations:
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
    return db
