"""Field validators: each raises InvalidField naming the field."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from fleetplane.problems import InvalidField
from fleetplane.timeutil import normalize

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_TEXT = 1024


def text(body: dict[str, Any], field: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise InvalidField(field, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if required and not value.strip():
        raise InvalidField(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidField(field, f"must be at most {max_len} characters")
    return value


def required_text(body: dict[str, Any], field: str, *, max_len: int = MAX_TEXT) -> str:
    value = text(body, field, required=True, max_len=max_len)
    assert value is not None
    return value


def string_list(body: dict[str, Any], field: str, *, max_items: int = 100) -> list[str]:
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidField(field, "must be a list of strings")
    if len(value) > max_items:
        raise InvalidField(field, f"must have at most {max_items} items")
    if any(len(v) > MAX_TEXT for v in value):
        raise InvalidField(field, f"items must be at most {MAX_TEXT} characters")
    return list(value)


def string_map(body: dict[str, Any], field: str, *, max_items: int = 64) -> dict[str, str]:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidField(field, "must be an object of string values")
    if len(value) > max_items:
        raise InvalidField(field, f"must have at most {max_items} entries")
    if any(len(k) > 256 or len(v) > MAX_TEXT for k, v in value.items()):
        raise InvalidField(field, "keys must be at most 256 and values at most 1024 characters")
    return dict(value)


def timestamp(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(field, "must be an RFC 3339 timestamp string")
    try:
        return normalize(value)
    except (ValueError, OverflowError):
        raise InvalidField(field, "must be an RFC 3339 timestamp, e.g. 2030-01-02T03:04:05Z") from None


def is_hostname(value: str) -> bool:
    host = value[2:] if value.startswith("*.") else value
    host = host.rstrip(".")
    if not host or len(host) > 253:
        return False
    return all(_LABEL.match(label) for label in host.split("."))


def common_name(body: dict[str, Any], field: str = "common_name") -> str:
    value = required_text(body, field, max_len=253)
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if "@" in value:
        local, _, domain = value.rpartition("@")
        if _EMAIL_LOCAL.match(local) and is_hostname(domain) and not domain.startswith("*"):
            return value
        raise InvalidField(field, "must be a hostname, IP address or e-mail address")
    if is_hostname(value):
        return value
    raise InvalidField(field, "must be a hostname, IP address or e-mail address")


def identifier(value: str) -> bool:
    """True for a well-formed resource id (used for client-chosen ids)."""
    return bool(_ID.match(value))
