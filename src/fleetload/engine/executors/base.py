"""The executor interface and the registry of executors by k6 name."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, TypeVar

from fleetload.durations import parse_duration
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.engine.split import offset, share
from fleetload.engine.vu import VU
from fleetload.errors import ConfigError

E = TypeVar("E", bound="Executor")

REGISTRY: dict[str, type[Executor]] = {}

# uvloop rounds timers to whole milliseconds: a shorter sleep returns at once
# and a pacing loop would spin a core.
MIN_SLEEP = 0.001


@dataclass(frozen=True)
class ScheduleOverrides:
    """Command-line flags that change scenarios' schedules. ``rate`` is in
    iterations per second, whatever the scenario's ``time_unit``."""

    duration: float | None = None
    rate: float | None = None
    vus: int | None = None
    max_in_flight: int | None = None


INTERNAL_FIELDS = frozenset({"segment", "vu_id_offset", "derived"})
"""Executor fields set by the engine, never by a script."""


def register(cls: type[E]) -> type[E]:
    REGISTRY[cls.kind] = cls
    return cls


def seconds(value: Any, what: str) -> float:
    return parse_duration(value, what=what)


@dataclass(frozen=True)
class Executor(ABC):
    """Common options: ``start_time`` (delay before the scenario starts) and
    ``graceful_stop`` (how long running iterations may finish after the end)."""

    kind: ClassVar[str] = ""
    open_loop: ClassVar[bool] = False
    waits_for_start: ClassVar[bool] = False
    """Whether :meth:`run` may be called before the scenario's start instant
    (``rt.start``, in the future): it prepares (makes its VUs) and then waits
    for the start itself, so the preparation does not make the first
    iterations late."""
    DURATIONS: ClassVar[tuple[str, ...]] = ()
    """Options given as durations (``"30s"``, ``"5m"``), held as seconds."""

    start_time: float | str = 0.0
    graceful_stop: float | str = 30.0
    tags: Mapping[str, str] = field(default_factory=dict)
    # Set by split(): this worker's (index, count) and where its VU ids start.
    segment: tuple[int, int] = (0, 1)
    vu_id_offset: int = 0

    def __post_init__(self) -> None:
        # The constructor normalises (durations to seconds, derived options);
        # validate() only reads, and every problem is reported at once.
        for name in ("start_time", "graceful_stop", *self.DURATIONS):
            self._set(name, seconds(getattr(self, name), name))
        self._normalise()
        problems = self.validate()
        if problems:
            raise ConfigError("; ".join(problems))

    def _set(self, name: str, value: Any) -> None:
        """Normalise one option while the (frozen) executor is being built."""
        object.__setattr__(self, name, value)

    def _normalise(self) -> None:  # noqa: B027 - optional hook
        """Fill in options derived from others (called once, by the constructor)."""

    def validate(self) -> list[str]:
        """Every problem with the options, as one line each (empty: valid)."""
        return []

    @classmethod
    def from_options(cls: type[E], options: Mapping[str, Any], *, where: str) -> E:
        """Build from a k6-style options mapping: k6's camelCase names are
        read through :data:`ALIASES`; anything else unknown is an error."""
        allowed = {f.name for f in fields(cls)} - INTERNAL_FIELDS
        renamed = {ALIASES.get(k, k): v for k, v in options.items()}
        unknown = set(renamed) - allowed
        if unknown:
            raise ConfigError(f"unknown option(s) {sorted(unknown)} for executor {cls.kind}",
                              where=where)
        try:
            return cls(**renamed)
        except TypeError as exc:
            raise ConfigError(f"executor {cls.kind}: {exc}", where=where) from None

    @abstractmethod
    def scheduled_duration(self) -> float:
        """Seconds of scheduled work, without start_time and graceful stop."""

    def wall_time_limit(self) -> float:
        """Upper bound of the scenario's wall time including graceful stop."""
        return float(self.start_time) + self.scheduled_duration() + float(self.graceful_stop)

    @abstractmethod
    def split(self: E, index: int, count: int) -> E | None:
        """This worker's exact share, or None when it has nothing to do."""

    @abstractmethod
    async def run(self, rt: ScenarioRuntime) -> None:
        """Run the schedule on ``rt`` from ``rt.start``."""

    def vus_planned(self) -> int:
        """VUs (or in-flight slots) this executor may use: for sizing and the summary."""
        return 0

    def overridable(self) -> frozenset[str]:
        """The :class:`ScheduleOverrides` this executor takes (field names)."""
        names = {f.name for f in fields(self)}
        taken = {"duration"} if names & {"duration", "max_duration"} else set()
        return frozenset(taken | (names & {"vus"}))

    def with_overrides(self: E, o: ScheduleOverrides) -> E:
        """Apply the overrides in :meth:`overridable`; the others are left to
        the caller to report (a flag never passes silently)."""
        names = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        if o.duration is not None:
            if "duration" in names:
                changes["duration"] = o.duration
            elif "max_duration" in names:
                changes["max_duration"] = o.duration
        if o.vus is not None and "vus" in names:
            changes["vus"] = o.vus
        return replace(self, **changes) if changes else self

    def rate_per_second(self) -> float | None:
        """The constant arrival rate in iterations per second, for executors
        that have one (the share of a ``--rate`` total it takes)."""
        return None

    def describe(self) -> str:
        return self.kind

    def format_status(self, status: Mapping[str, float]) -> str | None:
        """A live-line fragment from the runtime's ``status`` numbers (merged
        over workers), for executors that keep such numbers."""
        return None

    def summary_extra(self, status: Mapping[str, float], view: Any) -> dict[str, Any] | None:
        """Extra keys for this scenario's section of summary.json. ``view``
        answers ``view.values(metric, {"tag": "value"})`` with k6 summary values."""
        return None

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"executor": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in INTERNAL_FIELDS or (f.name == "tags" and not value):
                continue
            out[f.name] = [list(s) for s in value] if f.name == "stages" else value
        return out


def executor_from_options(options: Mapping[str, Any], *, where: str) -> Executor:
    """Build an executor from a k6-style options mapping (``executor: name``)."""
    opts = dict(options)
    kind = opts.pop("executor", None)
    if kind not in REGISTRY:
        raise ConfigError(f"unknown executor {kind!r}; choose one of {', '.join(sorted(REGISTRY))}",
                          where=where)
    return REGISTRY[kind].from_options(opts, where=where)


ALIASES: dict[str, str] = {
    # k6's option names -> ours
    "startTime": "start_time", "gracefulStop": "graceful_stop",
    "gracefulRampDown": "graceful_ramp_down", "timeUnit": "time_unit",
    "preAllocatedVUs": "pre_allocated", "pre_allocated_vus": "pre_allocated",
    "maxVUs": "max_in_flight", "max_vus": "max_in_flight", "startRate": "start_rate",
    "startVUs": "start_vus", "maxDuration": "max_duration",
}


def positive(value: Any, what: str) -> list[str]:
    """``[problem]`` unless ``value`` is a number above 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return [f"{what} must be greater than 0, got {value!r}"]
    return []


def whole(value: Any, what: str, *, least: int = 1) -> list[str]:
    """``[problem]`` unless ``value`` is a whole number of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        return [f"{what} must be a whole number >= {least}, got {value!r}"]
    return []


@dataclass(frozen=True)
class ClosedLoopExecutor(Executor):
    """VUs iterate back to back: the next iteration starts when one ends."""


@dataclass(frozen=True)
class FixedVUsExecutor(ClosedLoopExecutor):
    """A fixed number of VUs, split exactly over workers, each looping until
    :meth:`run_for` seconds have passed and while :meth:`keep_going` says so."""

    vus: int = 1

    def vus_planned(self) -> int:
        return self.vus

    def split(self: E, index: int, count: int) -> E | None:
        return split_vus(self, index, count)

    def run_for(self) -> float:
        return self.scheduled_duration()

    def keep_going(self) -> Callable[[VU], bool] | None:
        """A per-run predicate checked before each iteration (None: until the end)."""
        return None

    def validate(self) -> list[str]:
        return whole(self.vus, "vus")

    async def run(self, rt: ScenarioRuntime) -> None:
        await run_vus(rt, self, self.vus, self.keep_going(), rt.start + self.run_for())


async def sleep_until(deadline: float, stop: asyncio.Event | None = None) -> bool:
    """Sleep until ``deadline`` (perf_counter); returns False if ``stop`` fired."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return True
        if stop is None:
            await asyncio.sleep(max(remaining, MIN_SLEEP))
            continue
        if stop.is_set():
            return False
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(remaining, MIN_SLEEP))
            return False
        except TimeoutError:
            continue


async def finish_gracefully(rt: ScenarioRuntime, vus: Iterable[VU], grace: float) -> None:
    """Let running iterations finish for ``grace`` seconds, then cancel the rest
    (they count as interrupted_iterations)."""
    tasks = [vu.task for vu in vus if vu.task is not None and not vu.task.done()]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace if grace > 0 else None)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


async def run_vus(rt: ScenarioRuntime, ex: Executor, count: int,
                  keep_going: Callable[[VU], bool] | None, deadline: float) -> None:
    """Closed loop: ``count`` VUs iterate until ``deadline`` or a stop, and while
    ``keep_going`` (when given); returns once all have finished or at the
    deadline, after the graceful stop."""
    loop = asyncio.get_running_loop()
    vus = [rt.new_vu(ex.vu_id_offset + i + 1) for i in range(count)]
    for vu in vus:
        vu.task = loop.create_task(run_vu_loop(rt, vu, keep_going, deadline))
    done: asyncio.Future[Any] = asyncio.gather(*(vu.task for vu in vus), return_exceptions=True)
    watcher: asyncio.Future[Any] = loop.create_task(sleep_until(deadline, rt.stopping))
    await asyncio.wait({done, watcher}, return_when=asyncio.FIRST_COMPLETED)
    watcher.cancel()
    await finish_gracefully(rt, vus, float(ex.graceful_stop))


def split_vus(ex: E, index: int, count: int, **changes: Any) -> E | None:
    """The share of a VU-based executor: its ``vus`` divided exactly, disjoint ids."""
    total = int(getattr(ex, "vus"))  # noqa: B009 - every caller has the field
    mine = share(total, index, count)
    if not mine:
        return None
    fields_: dict[str, Any] = {"vus": mine, "segment": (index, count),
                               "vu_id_offset": offset(total, index, count), **changes}
    return replace(ex, **fields_)


def run_vu_loop(rt: ScenarioRuntime, vu: VU, keep_going: Callable[[VU], bool] | None,
                until: float) -> Coroutine[Any, Any, None]:
    """Closed loop: iterate back to back until ``until`` or a stop, while
    ``keep_going(vu)`` when given."""
    return rt.vu_loop(vu, keep_going=keep_going, until=until)
