"""Duration strings as k6 writes them: ``"90s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``,
and days for long soaks and certificate lifetimes (``"2d"``, ``"1d12h"``)."""

from __future__ import annotations

import re

from fleetload.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "us": 1e-6, "µs": 1e-6}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|s|m|h|d)")


def parse_duration(value: str | float | int, *, what: str = "duration") -> float:
    """Return seconds. Bare numbers are seconds; strings need a unit per part."""
    if isinstance(value, bool):
        raise ConfigError(f"invalid {what} {value!r}: expected e.g. '30s', '5m', '1h30m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"invalid {what} {value!r}: must not be negative")
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ConfigError(f"invalid {what} {value!r}: expected e.g. '30s', '5m', '1h30m', '250ms', '2d'")
    return total


def format_duration(seconds: float) -> str:
    """Short human form used in the live line and summaries."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{sec:02d}s"
    return f"{minutes}m{sec:02d}s"
