"""SQLite backend: WAL, a small pool of aiosqlite connections, one writer at a time.

SQLite allows a single writer; queueing writers on an asyncio lock (instead of
letting them spin on SQLITE_BUSY) keeps latency predictable and lets the lock
queue show up as "waiting" in /metrics, like a PostgreSQL pool queue.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from fleetplane.db.base import Dialect, Params, PoolStats, Row


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


class SqliteTx:
    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        rows = await self._conn.execute_fetchall(sql, params)
        return list(rows)  # type: ignore[arg-type]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(sql, params)
        return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Params]) -> None:
        marks = ", ".join("?" for _ in columns)
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


class SqliteDatabase:
    dialect: Dialect = "sqlite"

    def __init__(self, url: str, path: str, pool_size: int) -> None:
        self.url = url
        self._path = path
        # A private :memory: database exists per connection, so it gets exactly one.
        self._size = 1 if path == ":memory:" else max(1, pool_size)
        self._free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._conns: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self._in_use = 0
        self._waiting = 0

    async def open(self) -> None:
        if self._path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self._path))
            os.makedirs(parent, exist_ok=True)
        for _ in range(self._size):
            conn = await aiosqlite.connect(self._path, isolation_level=None)
            conn.row_factory = _dict_row  # type: ignore[assignment]
            await conn.execute("PRAGMA busy_timeout = 10000")
            if self._path != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            self._conns.append(conn)
            self._free.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()
        self._conns.clear()

    def stats(self) -> PoolStats:
        return PoolStats(size=self._size, in_use=self._in_use, waiting=self._waiting)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        self._waiting += 1
        try:
            conn = await self._free.get()
        finally:
            self._waiting -= 1
        self._in_use += 1
        try:
            yield conn
        finally:
            self._in_use -= 1
            self._free.put_nowait(conn)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[SqliteTx]:
        if not write:
            # WAL readers never block; autocommit keeps each read one thread hop.
            async with self._connection() as conn:
                yield SqliteTx(conn)
            return
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting -= 1
        try:
            async with self._connection() as conn:
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield SqliteTx(conn)
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")
        finally:
            self._write_lock.release()
