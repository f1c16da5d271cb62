"""PostgreSQL backend: psycopg 3 async with a fixed-size AsyncConnectionPool.

Every request holds one pooled connection for its whole transaction, so
``--pool-size`` is the concurrency limit of the database tier and the pool's
queue (``requests_waiting``) is where saturation becomes visible.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from fleetplane.db.base import DatabaseUnavailable, Dialect, Params, PoolStats, Row

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def to_pg(sql: str) -> str:
    # Our SQL never contains a literal '?' or '%', so a plain rewrite is safe.
    if "%" in sql:
        raise ValueError("literal % in SQL; pass it as a parameter")
    return _PLACEHOLDER.sub("%s", sql)


class PgTx:
    dialect: Dialect = "postgres"

    def __init__(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self._conn.execute(to_pg(sql), params)
        return await cur.fetchall()

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cur = await self._conn.execute(to_pg(sql), params)
        return await cur.fetchone()

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(to_pg(sql), params)
        return cur.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(to_pg(sql), rows)

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Params]) -> None:
        async with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                await copy.write_row(row)


class PostgresDatabase:
    dialect: Dialect = "postgres"

    def __init__(self, url: str, pool_size: int, timeout: float = 30.0) -> None:
        self.url = url
        self._size = max(1, pool_size)
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=self._size,
            max_size=self._size,
            open=False,
            timeout=timeout,
            kwargs={"row_factory": dict_row},
            name="fleetplane",
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self._pool.close()

    def stats(self) -> PoolStats:
        s = self._pool.get_stats()
        size = int(s.get("pool_size", self._size))
        return PoolStats(
            size=size,
            in_use=size - int(s.get("pool_available", 0)),
            waiting=int(s.get("requests_waiting", 0)),
        )

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[PgTx]:
        try:
            cm = self._pool.connection()
            conn = await cm.__aenter__()
        except PoolTimeout as exc:
            raise DatabaseUnavailable("database pool exhausted") from exc
        # psycopg commits on a clean exit and rolls back on an exception.
        try:
            yield PgTx(conn)
        except BaseException as exc:
            await cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await cm.__aexit__(None, None, None)
