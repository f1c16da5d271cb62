"""Timestamps are stored as fixed-width UTC RFC 3339 text.

A fixed width (always microseconds, always ``Z``) makes lexical order equal to
time order, so the same ``ORDER BY``/keyset SQL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def now() -> datetime:
    return datetime.now(UTC)


def fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_str() -> str:
    return fmt(now())


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset required); raises ValueError."""
    if not _RFC3339.match(value):
        raise ValueError("not an RFC 3339 timestamp")
    text = value.replace("z", "Z").replace("t", "T")
    # fromisoformat accepts at most 6 fractional digits.
    m = re.match(r"^(.*?\.\d{6})\d+(.*)$", text)
    if m:
        text = m.group(1) + m.group(2)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:  # pragma: no cover - regex requires an offset
        raise ValueError("timestamp needs a UTC offset")
    return dt.astimezone(UTC)


def normalize(value: str) -> str:
    return fmt(parse_rfc3339(value))


def plus(dt: datetime, **kwargs: float) -> datetime:
    return dt + timedelta(**kwargs)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|s|m|h)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str) -> float:
    """``"20ms"``, ``"1.5s"``, ``"1m30s"``, ``"1h"`` or a bare number of seconds → seconds; raises ValueError."""
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 20ms, 1.5s, 2 (seconds)")
    return total
