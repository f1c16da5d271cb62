"""Turning what a script passes into request parts: the URL split into origin,
Host header and request target (IDNA hosts, percent-encoding, credentials to
Basic auth), header validation, and the body with the content type it implies."""

from __future__ import annotations

import base64
import json as _json
import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fleetload.redact import redact_url

DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_PATH_SAFE = "/%:@!$&'()*+,;=~"
_QUERY_SAFE = "/%:@!$&'()*+,;=~?"
_encode_json = _json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: "no ``json=`` given", for callers that pass the arguments through (None is valid JSON).
MISSING: Any = _Missing()


class Target:
    """A resolved URL: origin, Host header, request target, display URL."""

    __slots__ = ("auth", "display", "host", "host_header", "port", "scheme", "target")

    def __init__(self, scheme: str, host: str, port: int, host_header: str, target: str,
                 display: str, auth: str | None) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.host_header = host_header
        self.target = target
        self.display = display
        self.auth = auth


def is_token(text: str) -> bool:
    """A valid HTTP token (a method or a header name)."""
    return bool(_TOKEN.match(text))


def check_header(name: str, value: str) -> None:
    if not _TOKEN.match(name):
        raise ValueError(f"invalid HTTP header name {name!r}")
    if _BAD_VALUE.search(value):
        raise ValueError(f"invalid value for HTTP header {name!r}: contains CR, LF or NUL")



def split_url(full: str) -> Target:
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {redact_url(full)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {redact_url(full)!r} "
                         "(only http and https)")
    host = parts.hostname
    if not host:
        raise ValueError(f"invalid URL {redact_url(full)!r}: no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid host in URL {redact_url(full)!r}: {exc}") from None
    if any(c in host for c in " /\\\r\n\x00"):
        raise ValueError(f"invalid host in URL {redact_url(full)!r}")
    if port is None:
        port = DEFAULT_PORTS[scheme]
    hostpart = f"[{host}]" if ":" in host else host
    host_header = hostpart if port == DEFAULT_PORTS[scheme] else f"{hostpart}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    target = path + ("?" + quote(parts.query, safe=_QUERY_SAFE) if parts.query else "")
    auth = None
    if parts.username is not None or parts.password is not None:
        user = unquote(parts.username or "")
        pw = unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode("ascii")
    display = f"{scheme}://{host_header}{target}"
    return Target(scheme, host, port, host_header, target, display, auth)


def payload(body: bytes | str | None, json: Any) -> tuple[bytes | None, str | None]:
    """The request body and the content type it implies (JSON only)."""
    if json is not MISSING:
        if body is not None:
            raise ValueError("pass either body= or json=, not both")
        return _encode_json(json).encode(), "application/json"
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode("utf-8"), None
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), None
    raise ValueError(f"body must be bytes or str, got {type(body).__name__}")


__all__ = ["DEFAULT_PORTS", "MISSING", "Target", "check_header", "is_token", "payload",
           "split_url"]
