"""Error responses: RFC 7807 ``application/problem+json`` (the fleetplane
profile) or certctl's ``{"error","message","request_id"}`` (the certctl profile).

Handlers raise :class:`Problem`; the exception handlers render it in the
profile's style.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fleetplane.db.base import DatabaseUnavailable

PROBLEM_JSON = "application/problem+json"
GO_TEXT = "text/plain; charset=utf-8"
ACME_RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
ACME_MALFORMED = "urn:ietf:params:acme:error:malformed"

log = logging.getLogger("fleetplane")

_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "internal",
    503: "unavailable",
}


def problem_type(status: int) -> str:
    return f"urn:fleetplane:problem:{_SLUGS.get(status, str(status))}"


class Problem(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type or problem_type(status)
        self.headers = headers or {}
        self.extra = extra or {}


class InvalidField(Problem):
    """A 400 naming the offending field (``field`` extension member)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(400, f"{field}: {message}", extra={"field": field})


def problem_body(status: int, detail: str, type_: str | None = None, extra: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = {
        "type": type_ or problem_type(status),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if extra:
        doc.update(extra)
    # ASCII escapes keep the document valid even if a field name echoes bad input.
    return json.dumps(doc).encode()


def certctl_error_body(status: int, message: str, request_id: str | None) -> bytes:
    """certctl's ErrorResponse: the status text, the message, the request id."""
    doc = {"error": HTTPStatus(status).phrase, "message": message}
    if request_id:
        doc["request_id"] = request_id
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def problem_response(p: Problem) -> Response:
    return Response(
        problem_body(p.status, p.detail, p.type, p.extra),
        status_code=p.status,
        headers=p.headers,
        media_type=PROBLEM_JSON,
    )


def _certctl_style(request: Request) -> bool:
    state = getattr(request.app.state, "fp", None)
    return state is not None and state.config.prof.error_style == "certctl"


def request_id(request: Request) -> str | None:
    rid = request.scope.get("state", {}).get("request_id")
    return str(rid) if rid else None


def error_response(request: Request, p: Problem) -> Response:
    """``p`` in the style of the app's profile."""
    if not _certctl_style(request):
        return problem_response(p)
    return Response(
        certctl_error_body(p.status, p.detail, request_id(request)),
        status_code=p.status,
        headers=p.headers,
        media_type="application/json",
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return error_response(request, exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if _certctl_style(request) and exc.status_code in (404, 405):
        # Go's ServeMux answers unrouted paths and methods in plain text.
        text = "404 page not found" if exc.status_code == 404 else "Method Not Allowed"
        return Response(text + "\n", status_code=exc.status_code, headers=headers, media_type=GO_TEXT)
    detail = exc.detail
    if exc.status_code == 404 and detail == HTTPStatus.NOT_FOUND.phrase:
        detail = f"no route for {request.url.path}"
    elif exc.status_code == 405:
        detail = f"method {request.method} not allowed on {request.url.path}"
    return error_response(request, Problem(exc.status_code, str(detail), headers=headers))


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    return error_response(request, Problem(503, str(exc), headers={"Retry-After": "1"}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, Problem(500, "internal error"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    Problem: handle_problem,
    HTTPException: handle_http_exception,
    DatabaseUnavailable: handle_unavailable,
    Exception: handle_unexpected,
}
