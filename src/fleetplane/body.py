"""Reading JSON request bodies: size limit, content type, parse, text sanity."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from fleetplane.problems import InvalidField, Problem

MAX_BODY = 1024 * 1024


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def check_text(value: str, field: str) -> None:
    """Reject what the databases cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        raise InvalidField(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(field, "must be valid Unicode (no lone surrogates)") from None


def _check_tree(value: Any, path: str) -> None:
    if isinstance(value, str):
        check_text(value, path or "body")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(k, f"{path}.{k}" if path else "body key")
            _check_tree(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_tree(v, f"{path}[{i}]")


class _Empty:
    """Marks an absent body (distinct from a JSON ``null``)."""


EMPTY = _Empty()


async def read_json(request: Request, *, required: bool = True, limit: int = MAX_BODY) -> Any:
    """Return the parsed body, or EMPTY when there is none and it is optional."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise Problem(400, "request body is required (a JSON object)")
        return EMPTY
    if not _is_json_type(request.headers.get("content-type", "")):
        raise Problem(415, "Content-Type must be application/json")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Problem(400, f"malformed JSON: {exc}") from None
    _check_tree(value, "")
    return value


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any] | None:
    value = await read_json(request, required=required)
    if value is EMPTY:
        return None
    if not isinstance(value, dict):
        raise Problem(400, "request body must be a JSON object")
    return value
