"""A tiny stdlib HTTP client for the contract tests (no third-party clients)."""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes
    _json: Any = field(default=None, repr=False)

    @property
    def json(self) -> Any:
        if self._json is None and self.body:
            self._json = json.loads(self.body)
        return self._json

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def is_certctl_error(self, status: int, message: str | None = None) -> bool:
        """certctl's ErrorResponse: status text, message, and the request id
        that is also in X-Request-ID."""
        doc = self.json
        return (
            self.status == status
            and self.content_type == "application/json"
            and isinstance(doc, dict)
            and set(doc) == {"error", "message", "request_id"}
            and doc["error"] == HTTPStatus(status).phrase
            and doc["request_id"] == self.headers.get("x-request-id")
            and (message is None or doc["message"] == message)
        )

    def is_certctl_text(self, status: int, error: str) -> bool:
        """certctl's http.Error bodies (401, 429): JSON-looking, sent as text/plain."""
        return (
            self.status == status
            and self.content_type == "text/plain; charset=utf-8"
            and self.body == json.dumps({"error": error}, separators=(",", ":")).encode() + b"\n"
        )

    def is_problem(self, status: int) -> bool:
        doc = self.json
        return (
            self.status == status
            and self.content_type.startswith("application/problem+json")
            and isinstance(doc, dict)
            and {"type", "title", "status", "detail"} <= doc.keys()
            and doc["status"] == status
        )


_DEFAULT = object()


class Api:
    def __init__(self, url: str, key: str | None, ssl_context: ssl.SSLContext | None = None,
                 source_ip: str | None = None) -> None:  # fmt: skip
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port
        self.https = parts.scheme == "https"
        self.key = key
        self.ctx = ssl_context
        # Another loopback address (127.0.0.2...) is another client to a per-IP limiter.
        self.source = (source_ip, 0) if source_ip else None

    def _conn(self) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=30, context=self.ctx,
                                               source_address=self.source)  # fmt: skip
        return http.client.HTTPConnection(self.host, self.port, timeout=30, source_address=self.source)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        key: Any = _DEFAULT,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Resp:
        hdrs = {}
        token = self.key if key is _DEFAULT else key
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        conn = self._conn()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            payload = r.read()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
        finally:
            conn.close()

    def get(self, path: str, **kw: Any) -> Resp:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Resp:
        return self.call("POST", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Resp:
        return self.call("DELETE", path, **kw)
