"""An agent's lifecycle as a table: what each event does to it.

Every row says the agent's new :class:`~fleetload.fleet.agent.State` (or
none), its new :class:`~fleetload.fleet.agent.Registration` outcome (or
none), whether the agent is now through the ramp, and which action is retried
after an exponential backoff (1 s to 60 s, jittered). The fleet applies rows
in one place (:meth:`fleetload.fleet.lifecycle.FleetContext.transition`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, auto

from fleetload.fleet.agent import Registration, State


class Action(IntEnum):
    """What a heap entry asks for (the low 3 bits of its code)."""

    START = 0  # register
    HEARTBEAT = 1
    POLL = 2
    RECONNECT = 3


class Event(Enum):
    ACTIVE = auto()  # registration came back active: connect next
    PENDING = auto()  # registered but not approved (or no longer approved)
    TIMED_OUT = auto()  # the registration's outcome is unknown: pending, retried
    REJECTED = auto()  # the server refused the registration for good
    REG_FAILED = auto()  # the registration failed: retried
    CONNECTED = auto()  # open() succeeded: ticking
    CONNECT_FAILED = auto()  # open() failed: reconnect
    DROPPED = auto()  # the stream or connection went away: reconnect
    UNREGISTERED = auto()  # the server does not know the agent: register again


@dataclass(frozen=True, slots=True)
class Transition:
    state: State | None  # None: unchanged
    registration: Registration | None  # None: unchanged
    settles: bool  # the agent is through the ramp
    retry: Action | None  # scheduled after a backoff


TRANSITIONS: dict[Event, Transition] = {
    Event.ACTIVE: Transition(None, Registration.ACTIVE, False, None),
    Event.PENDING: Transition(State.PENDING, Registration.PENDING, True, None),
    Event.TIMED_OUT: Transition(State.PENDING, Registration.PENDING, False, Action.START),
    Event.REJECTED: Transition(State.FAILED, Registration.FAILED, True, None),
    Event.REG_FAILED: Transition(None, Registration.FAILED, False, Action.START),
    Event.CONNECTED: Transition(State.CONNECTED, None, True, None),
    Event.CONNECT_FAILED: Transition(State.DISCONNECTED, None, False, Action.RECONNECT),
    Event.DROPPED: Transition(State.DISCONNECTED, None, False, Action.RECONNECT),
    Event.UNREGISTERED: Transition(State.NEW, Registration.NONE, False, Action.START),
}

REG_KEYS = {Registration.ACTIVE: "regs_active", Registration.PENDING: "regs_pending",
             Registration.FAILED: "regs_failed"}
