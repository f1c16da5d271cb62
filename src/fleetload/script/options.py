"""Run-wide options: what the script's ``options`` dict and CLI flags may set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from fleetload.durations import parse_duration
from fleetload.errors import ConfigError


@dataclass(frozen=True)
class ClientOptions:
    """How VUs talk HTTP. ``target`` is the base URL relative paths resolve on."""

    target: str | None = None
    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    insecure: bool = False
    ca_file: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    timeout: float = 60.0
    max_connections_per_origin: int | None = None
    keep_alive: bool = True

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, where: str) -> ClientOptions:
        allowed = {f.name for f in fields(cls)}
        unknown = set(raw) - allowed
        if unknown:
            raise ConfigError(f"unknown option(s) {sorted(unknown)}; known: {', '.join(sorted(allowed))}",
                              where=where)
        values = dict(raw)
        for key in ("connect_timeout", "read_timeout", "timeout"):
            if key in values:
                values[key] = parse_duration(values[key], what=key)
        if "headers" in values and not isinstance(values["headers"], Mapping):
            raise ConfigError("options.headers must be a mapping", where=where)
        return cls(**values)


@dataclass(frozen=True)
class Overrides:
    """CLI flags that override the script."""

    duration: float | None = None
    rate: float | None = None
    vus: int | None = None
    target: str | None = None
    token: str | None = None
    insecure: bool | None = None
    ca_file: str | None = None
    thresholds: tuple[tuple[str, str], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str | list[str]] = field(default_factory=dict)
    """Flags the run command does not know: the script's own parameters."""

    def param_values(self) -> dict[str, object]:
        values: dict[str, object] = {k: getattr(self, k) for k in
                                     ("duration", "rate", "vus", "target", "token")}
        values.update(self.params)
        return values

    def apply_client(self, opts: ClientOptions) -> ClientOptions:
        changes: dict[str, Any] = {}
        for name in ("target", "token", "insecure", "ca_file"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        return replace(opts, **changes) if changes else opts
