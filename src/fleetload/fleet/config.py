"""The ``fleet`` executor's configuration: N virtual agents of one Agent class.

Pure options, validation and the split across workers (agent ranges are
disjoint: worker k of n runs agents [k*N/n, (k+1)*N/n)); the runtime that
registers, connects and ticks the agents is :mod:`fleetload.fleet.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from fleetload.engine.executors.base import Executor, positive, register, whole
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset, share
from fleetload.fleet import identity, identity_sources
from fleetload.fleet import metrics as fm
from fleetload.fleet.agent import Agent
from fleetload.fleet.client_identity import IdentitySource
from fleetload.fleet.connection_options import connection_problems, describe_connections

# An unbounded fleet (duration 0) runs until Ctrl-C; the engine still wants a bound.
FOREVER = 365 * 24 * 3600.0


@register
@dataclass(frozen=True)
class Fleet(Executor):
    """A fleet of virtual agents (``agent``: an :class:`Agent` subclass).

    ``agents`` start over ``ramp`` (agent i at i * ramp / agents), at most
    ``registration_concurrency`` registrations in flight; each heartbeats every
    ``heartbeat_interval`` ± ``jitter`` with a random first offset, until
    ``duration`` (0: until Ctrl-C).
    """

    kind = "fleet"

    agent: type[Agent] = Agent
    agents: int = 100
    duration: float | str = 0.0
    ramp: float | str = 0.0
    registration_concurrency: int = 32
    heartbeat_interval: float | str = 30.0
    jitter: float = 0.1
    metrics_jitter: float = 0.05
    work_poll_interval: float | str = 60.0
    check_failure_rate: float = 0.0
    tasks: bool = True
    checks: bool = True
    inventory: bool = True
    terminal: bool = True
    queries: bool = True
    hostname_prefix: str = "fl"
    conn_fanout: int = 50
    grpc_target: str | None = None
    token: str | None = None
    preflight: bool = True
    registration_timeout: float | str = 10.0
    identities: IdentitySource | None = None
    """Per-agent client TLS identities (``--identities DIR``, ``--mint-identities``)."""
    connections: str = "shared"
    """HTTP agents: ``shared`` (the worker's pool), ``per-agent``, ``per-beat``; ``auto``:
    per-agent with client identities, else shared."""
    source_addresses: str | None = None
    """HTTP agents' source addresses (range, comma list or CIDR), agent i from address i mod n."""
    options_extra: Mapping[str, Any] = field(default_factory=dict)
    """Free-form options for custom agents (``self.fleet.options``)."""
    agent_range: tuple[int, int] | None = None  # set by split(): [lo, hi) of agent indexes

    DURATIONS: ClassVar[tuple[str, ...]] = ("duration", "ramp", "heartbeat_interval",
                                             "work_poll_interval", "registration_timeout")

    def __post_init__(self) -> None:
        fm.declare()
        super().__post_init__()

    def validate(self) -> list[str]:
        if not (isinstance(self.agent, type) and issubclass(self.agent, Agent)):
            return [f"fleet: agent must be an Agent subclass, got {self.agent!r}"]
        problems = whole(self.agents, "--agents")
        if self.registration_concurrency < 1:
            problems.append("--registration-concurrency must be >= 1")
        if self.conn_fanout < 1:
            problems.append("--conn-fanout must be >= 1")
        problems += positive(self.heartbeat_interval, "--heartbeat-interval")
        problems += positive(self.work_poll_interval, "--work-poll-interval")
        problems += positive(self.registration_timeout, "registration_timeout")
        if float(self.duration) < 0 or float(self.ramp) < 0:
            problems.append("--duration and --ramp must be >= 0")
        if not 0.0 <= self.jitter < 1.0:
            problems.append(f"--jitter must be in [0, 1), got {self.jitter}")
        if not 0.0 <= self.metrics_jitter <= 1.0:
            problems.append(f"--metrics-jitter must be in [0, 1], got {self.metrics_jitter}")
        if not 0.0 <= self.check_failure_rate <= 1.0:
            problems.append(f"--check-failure-rate must be in [0, 1], got {self.check_failure_rate}")
        problems += connection_problems(self)
        if not identity.valid_prefix(self.hostname_prefix):
            problems.append(f"--hostname-prefix {self.hostname_prefix!r}: lowercase letters, "
                            "digits and dashes, at most 32")
        return problems

    @property
    def connection_mode(self) -> str:
        """``shared``, ``per-agent`` or ``per-beat`` (``auto`` resolved)."""
        if self.connections == "auto":
            return "per-agent" if self.identities is not None else "shared"
        return self.connections

    # -- Executor interface -------------------------------------------------------------
    def scheduled_duration(self) -> float:
        return float(self.duration) or FOREVER

    def split(self, index: int, count: int) -> Fleet | None:
        lo, hi = offset(self.agents, index, count), offset(self.agents, index + 1, count)
        if hi <= lo:
            return None
        return replace(self, segment=(index, count), agent_range=(lo, hi),
                        registration_concurrency=max(1, share(self.registration_concurrency,
                                                               index, count)))

    def vus_planned(self) -> int:
        return self.agents

    def describe(self) -> str:
        dur = f"{float(self.duration):g}s" if float(self.duration) else "until Ctrl-C"
        return (f"fleet: {self.agents:,} {self.agent.transport} agents ({self.agent.__name__}), "
                f"ramp {float(self.ramp):g}s, heartbeat {float(self.heartbeat_interval):g}s "
                f"±{self.jitter:.0%}, {dur}"
                + describe_connections(self)
                + (f"; {identity_sources.describe(self.identities)}" if self.identities else ""))

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"executor": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("segment", "vu_id_offset", "agent_range") or (
                    f.name in ("tags", "options_extra") and not value):
                continue
            if f.name == "agent":
                value = f"{value.__module__}.{value.__qualname__}"
            elif f.name in ("token", "identities"):
                value = bool(value)
            out[f.name] = value
        return out

    def format_status(self, status: Mapping[str, float]) -> str | None:
        return fm.format_status(status, self.agent.transport)

    def summary_extra(self, status: Mapping[str, float], view: Any) -> dict[str, Any] | None:
        section = fm.summary_section(status, view, {}, self.agent.transport)
        return {"fleet": section, "text": fm.summary_lines(section)}

    async def run(self, rt: ScenarioRuntime) -> None:
        from fleetload.fleet.identity_sources import metered
        from fleetload.fleet.lifecycle import FleetContext

        ex = self if self.identities is None else replace(self, identities=metered(self.identities, rt))
        await FleetContext(ex, rt).run()
