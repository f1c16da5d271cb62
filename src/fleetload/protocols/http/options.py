"""How a run talks HTTP: the client options a script's ``options`` dict and
the command line set, and the client made from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fleetload.durations import parse_duration
from fleetload.errors import ConfigError
from fleetload.protocols.http.client import HttpClient


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


def new_client(opts: ClientOptions) -> HttpClient:
    """An HTTP client with these options (one per worker, one per setup)."""
    return HttpClient(base_url=opts.target, headers=dict(opts.headers), bearer_token=opts.token,
                      insecure=opts.insecure, ca_file=opts.ca_file,
                      connect_timeout=opts.connect_timeout, read_timeout=opts.read_timeout,
                      total_timeout=opts.timeout,
                      max_connections_per_origin=opts.max_connections_per_origin,
                      keep_alive=opts.keep_alive)


__all__ = ["ClientOptions", "new_client"]
