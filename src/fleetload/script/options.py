"""Run-wide options: what the script's ``options`` dict and CLI flags may set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fleetload.engine.executors.base import ScheduleOverrides
from fleetload.protocols.http.options import ClientOptions

RUN_FLAGS_AS_PARAMS = ("duration", "rate", "vus", "max_in_flight", "target", "token")
"""The run's own flags a script may also read as parameters (``param("rate")``)."""


@dataclass(frozen=True)
class Overrides:
    """CLI flags that override the script."""

    duration: float | None = None
    rate: float | None = None
    """Iterations per second (the total over the constant-arrival-rate scenarios)."""
    vus: int | None = None
    max_in_flight: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Sent with every request (client default headers), over the script's own."""
    target: str | None = None
    token: str | None = None
    insecure: bool | None = None
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    thresholds: tuple[tuple[str, str], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str | list[str]] = field(default_factory=dict)
    """Flags the run command does not know: the script's own parameters."""

    def param_values(self) -> dict[str, object]:
        values: dict[str, object] = {k: getattr(self, k) for k in RUN_FLAGS_AS_PARAMS}
        values.update(self.params)
        return values

    def schedule(self) -> ScheduleOverrides:
        return ScheduleOverrides(duration=self.duration, rate=self.rate, vus=self.vus,
                                 max_in_flight=self.max_in_flight)

    def apply_client(self, opts: ClientOptions) -> ClientOptions:
        changes: dict[str, Any] = {}
        for name in ("target", "token", "insecure", "ca_file", "client_cert", "client_key"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.headers:
            # A header given on the command line replaces the script's header
            # of the same name, whatever its case.
            given = {name.lower() for name, _ in self.headers}
            headers = {k: v for k, v in opts.headers.items() if k.lower() not in given}
            headers.update(self.headers)
            changes["headers"] = headers
        return replace(opts, **changes) if changes else opts
