"""Page-number and keyset (cursor) pagination shared by the list endpoints.

Cursor mode orders by ``(sort column, id)``, which is unique, and resumes
strictly after the last row returned, so pages never skip or repeat rows when
other clients insert concurrently (only new rows sorting after the cursor show
up later). Cursors are opaque base64url JSON bound to the sort they came from.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetplane.db import Row, Tx

MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 50


@dataclass(frozen=True)
class Sort:
    column: str
    desc: bool
    raw: str


@dataclass(frozen=True)
class PageSpec:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


@dataclass(frozen=True)
class CursorSpec:
    page_size: int = DEFAULT_PER_PAGE
    after: tuple[Any, str] | None = None


@dataclass(frozen=True)
class PageResult:
    rows: list[Row]
    total: int
    next_cursor: str | None = None


def parse_sort(raw: str | None, allowed: Sequence[str], default: str) -> Sort:
    text = raw if raw else default
    desc = text.startswith("-")
    column = text.lstrip("-+")
    if column not in allowed:
        raise ValueError(f"sort must be one of {', '.join(allowed)} (prefix '-' for descending)")
    return Sort(column=column, desc=desc, raw=("-" if desc else "") + column)


def encode_cursor(sort: Sort, value: Any, last_id: str) -> str:
    raw = json.dumps([sort.raw, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, sort: Sort) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("cursor is not valid") from exc
    if not (isinstance(data, list) and len(data) == 3 and isinstance(data[2], str)):
        raise ValueError("cursor is not valid")
    if data[0] != sort.raw:
        raise ValueError("cursor was issued for a different sort")
    if not isinstance(data[1], str | int | float):
        raise ValueError("cursor is not valid")
    return data[1], data[2]


async def fetch(
    tx: Tx,
    *,
    columns: str,
    table: str,
    where: Sequence[str],
    params: Sequence[Any],
    sort: Sort,
    spec: PageSpec | CursorSpec,
) -> PageResult:
    where_sql = " AND ".join(where) if where else "1=1"
    count = await tx.fetchone(f"SELECT COUNT(*) AS n FROM {table} WHERE {where_sql}", params)
    total = int(count["n"]) if count else 0
    direction = "DESC" if sort.desc else "ASC"
    order = f"ORDER BY {sort.column} {direction}, id {direction}"
    if isinstance(spec, PageSpec):
        rows = await tx.fetchall(
            f"SELECT {columns} FROM {table} WHERE {where_sql} {order} LIMIT ? OFFSET ?",
            [*params, spec.per_page, (spec.page - 1) * spec.per_page],
        )
        return PageResult(rows, total)
    conds = list(where)
    cparams = list(params)
    if spec.after is not None:
        op = "<" if sort.desc else ">"
        conds.append(f"({sort.column} {op} ? OR ({sort.column} = ? AND id {op} ?))")
        cparams += [spec.after[0], spec.after[0], spec.after[1]]
    csql = " AND ".join(conds) if conds else "1=1"
    rows = await tx.fetchall(
        f"SELECT {columns} FROM {table} WHERE {csql} {order} LIMIT ?",
        [*cparams, spec.page_size + 1],
    )
    next_cursor = None
    if len(rows) > spec.page_size:
        rows = rows[: spec.page_size]
        last = rows[-1]
        next_cursor = encode_cursor(sort, last[sort.column], last["id"])
    return PageResult(rows, total, next_cursor)
