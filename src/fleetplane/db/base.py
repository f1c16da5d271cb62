"""The backend-neutral database interface."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Row = dict[str, Any]
Params = Sequence[Any]
Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class PoolStats:
    size: int
    in_use: int
    waiting: int


class Tx(Protocol):
    """One transaction on one pooled connection."""

    dialect: Dialect

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the affected row count."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Params]) -> None:
        """Bulk insert (COPY on PostgreSQL, executemany on SQLite)."""
        ...


class Database(Protocol):
    dialect: Dialect
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        """Hold one pooled connection for the whole transaction.

        ``write=False`` lets SQLite skip its single-writer lock; PostgreSQL
        treats both the same.
        """
        ...

    def stats(self) -> PoolStats: ...


class DatabaseUnavailable(RuntimeError):
    """The pool could not hand out a connection in time (maps to HTTP 503)."""
