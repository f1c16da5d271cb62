"""Helpers shared by the route handlers: JSON, ETags, list parameters."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fleetplane.body import check_text
from fleetplane.pagination import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    CursorSpec,
    PageResult,
    PageSpec,
    Sort,
    decode_cursor,
    parse_sort,
)
from fleetplane.problems import InvalidField, Problem
from fleetplane.state import AppState


def app_state(request: Request) -> AppState:
    st: AppState = request.app.state.fp
    return st


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=headers, media_type="application/json")


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # If-None-Match uses weak comparison (RFC 9110 13.1.2).
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))


def etag_response(request: Request, obj: Any) -> Response:
    """200 with a strong ETag over the exact body bytes, or 304 when it matches."""
    body = dumps(obj)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    inm = request.headers.get("if-none-match")
    if inm is not None and _etag_matches(inm, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def path_id(request: Request, name: str) -> str:
    """A path id the database can hold; anything else cannot exist -> 404."""
    value: str = request.path_params[name]
    try:
        check_text(value, name)
    except Problem:
        raise Problem(404, f"{name} not found") from None
    return value


def query_text(request: Request, name: str, choices: Sequence[str] | None = None) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    check_text(value, name)
    if choices is not None and value not in choices:
        raise InvalidField(name, f"must be one of {', '.join(choices)}")
    return value


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidField(name, "must be an integer") from None
    if not lo <= value <= hi:
        raise InvalidField(name, f"must be between {lo} and {hi}")
    return value


def list_params(request: Request, sortable: Sequence[str], default_sort: str) -> tuple[Sort, PageSpec | CursorSpec]:
    """Page mode by default; cursor mode when ``cursor`` or ``page_size`` is given."""
    raw_sort = query_text(request, "sort")
    try:
        sort = parse_sort(raw_sort, sortable, default_sort)
    except ValueError as exc:
        raise InvalidField("sort", str(exc)) from None
    qp = request.query_params
    if "cursor" in qp or "page_size" in qp:
        size = _int_param(request, "page_size", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        token = qp.get("cursor") or ""
        after = None
        if token:
            try:
                after = decode_cursor(token, sort)
            except ValueError as exc:
                raise InvalidField("cursor", str(exc)) from None
        return sort, CursorSpec(page_size=size, after=after)
    page = _int_param(request, "page", 1, 1, 10_000_000)
    per_page = _int_param(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    return sort, PageSpec(page=page, per_page=per_page)


def list_body(result: PageResult, spec: PageSpec | CursorSpec, data: list[Any]) -> dict[str, Any]:
    if isinstance(spec, PageSpec):
        return {"data": data, "total": result.total, "page": spec.page, "per_page": spec.per_page}
    return {"data": data, "total": result.total, "next_cursor": result.next_cursor, "page_size": spec.page_size}
