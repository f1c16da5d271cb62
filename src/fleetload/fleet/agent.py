"""The Agent model: one simulated fleet member, driven by the fleet executor.

Subclass :class:`Agent` for your own protocol and override the lifecycle hooks;
the executor calls them at the right times and does the scheduling, backoff and
bookkeeping::

    class MyAgent(Agent):
        __slots__ = ("session",)          # optional: keeps agents small
        transport = "my-proto"

        async def register(self) -> str:  # once; "active" or "pending"
            ...
        async def open(self) -> None:     # connect (again after a drop)
            ...
        async def heartbeat(self) -> None:  # every heartbeat tick
            ...

Hooks signal what happened by returning or raising:

* ``register()`` returns ``"active"`` or ``"pending"``; raises :class:`Rejected`
  when the server refuses for good, :class:`RegistrationTimeout` when it did not
  answer in time (counted as pending, retried), anything else to retry with
  backoff.
* ``open()`` raises :class:`Unregistered` when the server does not know the
  agent (it registers again), :class:`PendingApproval` when it is not approved,
  anything else to retry with exponential backoff (1 s to 60 s, jittered).
* ``heartbeat()`` / ``poll()`` raise :class:`Disconnected` when the connection
  or stream is gone (the agent reconnects with backoff); record the heartbeat
  itself with ``self.stats.heartbeat_sent(...)`` / ``heartbeat_result(...)``.
* A stream reader that sees its stream end calls ``self.disconnected(reason)``.

Agents are slotted and share everything they can (one random generator, the
HTTP client, gRPC channels): a large fleet costs well under a kilobyte per
agent of Python objects.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from fleetload.fleet import identity

if TYPE_CHECKING:
    from fleetload.engine.runtime import ScenarioRuntime
    from fleetload.fleet.config import Fleet
    from fleetload.fleet.metrics import FleetStats


class FleetLike(Protocol):
    """What an agent sees of its fleet (``self.fleet``): one worker's share of it."""

    ex: Fleet
    """The fleet's options (``ex.conn_fanout``, ``ex.tasks``, ``ex.registration_timeout``...)."""
    rt: ScenarioRuntime
    """The scenario's runtime: ``rt.client`` is the worker's HTTP client."""
    run_id: str
    hostname_prefix: str
    options: Mapping[str, Any]
    token: str | None
    grpc_target: str | None
    rng: random.Random
    metrics_step: float
    stats: FleetStats
    lo: int
    hi: int
    shared: dict[str, Any]

    def spawn(self, coro: Any, *, background: bool = False) -> None: ...

    def disconnected(self, agent: Agent, reason: str) -> None: ...

    def reregister(self, agent: Agent, reason: str) -> None: ...


class Rejected(Exception):
    """The server refused the registration (bad token, invalid request)."""


class RegistrationTimeout(Exception):
    """The registration did not complete in time: its outcome is unknown."""


class PendingApproval(Exception):
    """The server knows the agent but has not approved it."""


class Unregistered(Exception):
    """The server does not know this agent (any more): register again."""


class Disconnected(Exception):
    """The connection or stream is gone: reconnect with backoff."""


class State(IntEnum):
    """Where an agent is in its life (the transitions are in
    :mod:`fleetload.fleet.lifecycle`)."""

    NEW = 0
    REGISTERING = 1
    PENDING = 2
    FAILED = 3
    DISCONNECTED = 4
    CONNECTED = 5
    CLOSED = 6


class Registration(IntEnum):
    """The outcome of an agent's last registration, as counted in the live line."""

    NONE = 0
    ACTIVE = 1
    PENDING = 2
    FAILED = 3


AGENT_VERSION = "fleetload-agent/1.0"


class Agent:
    """One simulated agent. ``index`` is global (unique across workers)."""

    __slots__ = ("_failures", "_gen", "_reg", "_state", "agent_id", "cpu", "disk", "fleet",
                 "hostname", "index", "mem", "private_key_raw", "public_key", "seq", "state",
                 "tick_due", "token")

    transport: ClassVar[str] = "custom"
    uses_stream: ClassVar[bool] = False
    """True when ``open()`` holds a stream (counted in ``streams_open``)."""
    has_poll: ClassVar[bool] = False
    """True when the agent has a ``poll()`` hook run every ``work_poll_interval``."""

    def __init__(self, fleet: FleetLike, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.hostname = identity.hostname(fleet.hostname_prefix, fleet.run_id, index)
        self.agent_id: str | None = None
        self.token: str | None = None
        self.private_key_raw: bytes | None = None
        self.public_key: bytes | None = None
        self.seq = 0
        self.state: Any = None
        """Free for subclasses: per-agent state."""
        self.tick_due = 0.0
        rnd = fleet.rng.random
        self.cpu = 5.0 + 30.0 * rnd()
        self.mem = 20.0 + 40.0 * rnd()
        self.disk = 30.0 + 40.0 * rnd()
        self._state = State.NEW
        self._reg = Registration.NONE
        self._gen = 0
        self._failures = 0

    # -- identity ---------------------------------------------------------------------
    def ensure_keys(self) -> bytes:
        """Generate the Ed25519 key pair on first use; returns the raw public key."""
        if self.public_key is None:
            self.private_key_raw, self.public_key = identity.new_keypair()
        return self.public_key

    def sign(self, data: bytes) -> bytes:
        self.ensure_keys()
        assert self.private_key_raw is not None
        return identity.sign(self.private_key_raw, data)

    # -- shared things ------------------------------------------------------------------
    @property
    def stats(self) -> FleetStats:
        return self.fleet.stats

    @property
    def connected(self) -> bool:
        return self._state == State.CONNECTED

    @property
    def lifecycle(self) -> str:
        return self._state.name.lower()

    def sample_metrics(self) -> dict[str, float]:
        """Synthetic gauges drifting as a bounded random walk (``--metrics-jitter``
        is the largest step, as a fraction of the 0-100 range)."""
        step = self.fleet.metrics_step
        rnd = self.fleet.rng.random
        self.cpu = min(100.0, max(0.0, self.cpu + step * (2.0 * rnd() - 1.0)))
        self.mem = min(100.0, max(0.0, self.mem + step * (2.0 * rnd() - 1.0)))
        self.disk = min(100.0, max(0.0, self.disk + 0.1 * step * (2.0 * rnd() - 1.0)))
        return {"cpu": round(self.cpu, 2), "mem": round(self.mem, 2), "disk": round(self.disk, 2)}

    def disconnected(self, reason: str) -> None:
        """Tell the executor the stream or connection dropped: it reconnects
        with backoff (ignored while the fleet is stopping)."""
        self.fleet.disconnected(self, reason)

    # -- fleet-wide hooks (once per worker) ----------------------------------------------
    @staticmethod
    async def setup_fleet(fleet: FleetLike) -> None:
        """Before the first agent starts: open what the worker's agents share
        (``fleet.shared``), derive addresses, check credentials."""

    @staticmethod
    async def teardown_fleet(fleet: FleetLike) -> None:
        """After the last agent closed: release what ``setup_fleet`` opened."""

    @staticmethod
    def sockets_needed(fleet: FleetLike) -> int:
        """Sockets this worker's agents may hold at once (the open-file limit is
        raised to fit, with a warning when it cannot be)."""
        return 256

    # -- lifecycle hooks ------------------------------------------------------------------
    async def register(self) -> str:
        """Enrol with the server; return "active" or "pending". Required."""
        raise NotImplementedError(f"{type(self).__name__} must implement register()")

    async def open(self) -> None:
        """Connect (a stream, a session). Called after registration and on every
        reconnect."""

    async def heartbeat(self) -> None:
        """One heartbeat tick (``self.tick_due`` is when it was scheduled). Required."""
        raise NotImplementedError(f"{type(self).__name__} must implement heartbeat()")

    async def poll(self) -> None:
        """Periodic work poll (agents with ``has_poll = True``)."""

    async def on_push(self, kind: str, message: Any) -> None:
        """Answer something the server pushed (a task, a check, an inventory request)."""

    async def close(self) -> None:
        """Close streams at the end of the run."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.index} {self.hostname} {self.lifecycle}>"
