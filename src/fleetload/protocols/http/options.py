"""How a run talks HTTP: the client options a script's ``options`` dict and
the command line set, and the client made from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fleetload.durations import parse_duration
from fleetload.errors import ConfigError
from fleetload.protocols.http.client import HttpClient
from fleetload.protocols.http.tls import build_ssl_context


@dataclass(frozen=True)
class ClientOptions:
    """How VUs talk HTTP. ``target`` is the base URL relative paths resolve on."""

    target: str | None = None
    token: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    insecure: bool = False
    ca_file: str | None = None
    client_cert: str | None = None
    """PEM certificate (chain) presented to servers that ask for one; with ``client_key``."""
    client_key: str | None = None
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
        if ("client_cert" in values) != ("client_key" in values):
            raise ConfigError("options client_cert and client_key go together: give both or neither",
                              where=where)
        return cls(**values)

    def check_client_identity(self) -> None:
        """Raise :class:`ConfigError` unless the client certificate and key (when
        set) are both given and load: bad input found before a run starts."""
        if self.client_cert is None and self.client_key is None:
            return
        if self.client_cert is None or self.client_key is None:
            raise ConfigError("--client-cert and --client-key go together: give both or neither")
        try:
            build_ssl_context(client_cert=self.client_cert, client_key=self.client_key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def new_client(opts: ClientOptions) -> HttpClient:
    """An HTTP client with these options (one per worker, one per setup)."""
    return HttpClient(base_url=opts.target, headers=dict(opts.headers), bearer_token=opts.token,
                      insecure=opts.insecure, ca_file=opts.ca_file,
                      client_cert=(opts.client_cert, opts.client_key)
                      if opts.client_cert and opts.client_key else None,
                      connect_timeout=opts.connect_timeout, read_timeout=opts.read_timeout,
                      total_timeout=opts.timeout,
                      max_connections_per_origin=opts.max_connections_per_origin,
                      keep_alive=opts.keep_alive)


__all__ = ["ClientOptions", "new_client"]
