"""The ``fleet`` executor: N virtual agents on one timer heap per worker.

No task per agent: one heap of (due time, agent, action) entries served by a
single loop timer. A due heartbeat spawns a short task for that one tick; agents
between ticks are plain slotted objects. Registrations run through a fixed set
of pump coroutines (the registration-concurrency cap), fed in ramp order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import resource
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fleetload.engine.executors.base import Executor, positive, register, seconds, sleep_until
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.errors import ConfigError
from fleetload.fleet import agent as A
from fleetload.fleet import identity
from fleetload.fleet import metrics as fm
from fleetload.fleet.agent import Agent
from fleetload.fleet.backoff import backoff_delay

# An unbounded fleet (duration 0) runs until Ctrl-C; the engine still wants a bound.
FOREVER = 365 * 24 * 3600.0

# Heap actions (low 3 bits of the entry code; the rest is the agent's generation).
START, HEARTBEAT, POLL, RECONNECT = range(4)
_BATCH = 4096  # most entries served per timer callback before yielding to the loop


def _share(total: int, index: int, count: int) -> int:
    return total // count + (1 if index < total % count else 0)


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise the soft open-file limit up to the hard limit; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if wanted > soft:
        print(f"fleetload: warning: open-file limit is {soft} (hard {hard}) but this fleet may "
              f"need about {wanted} sockets; raise it (`ulimit -n {wanted * 2}` in the shell, "
              "LimitNOFILE= for a systemd unit, /etc/security/limits.conf for the hard limit), "
              "raise --conn-fanout (gRPC), or spread the agents over more --workers/machines",
              file=sys.stderr, flush=True)
    return soft, hard


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
    hostname_prefix: str = "fl"
    conn_fanout: int = 50
    grpc_target: str | None = None
    token: str | None = None
    preflight: bool = True
    registration_timeout: float | str = 10.0
    options_extra: Mapping[str, Any] = field(default_factory=dict)
    """Free-form options for custom agents (``self.fleet.options``)."""
    agent_range: tuple[int, int] | None = None  # set by split(): [lo, hi) of agent indexes

    def __post_init__(self) -> None:
        for name in ("duration", "ramp", "heartbeat_interval", "work_poll_interval",
                     "registration_timeout"):
            object.__setattr__(self, name, seconds(getattr(self, name), name))
        fm.declare()
        super().__post_init__()

    def validate(self) -> None:
        if not (isinstance(self.agent, type) and issubclass(self.agent, Agent)):
            raise ConfigError(f"fleet: agent must be an Agent subclass, got {self.agent!r}")
        if isinstance(self.agents, bool) or not isinstance(self.agents, int) or self.agents < 1:
            raise ConfigError(f"--agents must be a whole number >= 1, got {self.agents!r}")
        if self.registration_concurrency < 1:
            raise ConfigError("--registration-concurrency must be >= 1")
        if self.conn_fanout < 1:
            raise ConfigError("--conn-fanout must be >= 1")
        positive(float(self.heartbeat_interval), "--heartbeat-interval")
        positive(float(self.work_poll_interval), "--work-poll-interval")
        positive(float(self.registration_timeout), "registration_timeout")
        if float(self.duration) < 0 or float(self.ramp) < 0:
            raise ConfigError("--duration and --ramp must be >= 0")
        if not 0.0 <= self.jitter < 1.0:
            raise ConfigError(f"--jitter must be in [0, 1), got {self.jitter}")
        if not 0.0 <= self.metrics_jitter <= 1.0:
            raise ConfigError(f"--metrics-jitter must be in [0, 1], got {self.metrics_jitter}")
        if not 0.0 <= self.check_failure_rate <= 1.0:
            raise ConfigError(f"--check-failure-rate must be in [0, 1], got {self.check_failure_rate}")
        if not identity.valid_prefix(self.hostname_prefix):
            raise ConfigError(f"--hostname-prefix {self.hostname_prefix!r}: lowercase letters, "
                              "digits and dashes, at most 32")

    # -- Executor interface -------------------------------------------------------------
    def scheduled_duration(self) -> float:
        return float(self.duration) or FOREVER

    def split(self, index: int, count: int) -> Fleet | None:
        lo = self.agents * index // count
        hi = self.agents * (index + 1) // count
        if hi <= lo:
            return None
        return _replace(self, segment=(index, count), agent_range=(lo, hi),
                        registration_concurrency=max(1, _share(self.registration_concurrency,
                                                               index, count)))

    def vus_planned(self) -> int:
        return self.agents

    def describe(self) -> str:
        dur = f"{float(self.duration):g}s" if float(self.duration) else "until Ctrl-C"
        return (f"fleet: {self.agents:,} {self.agent.transport} agents ({self.agent.__name__}), "
                f"ramp {float(self.ramp):g}s, heartbeat {float(self.heartbeat_interval):g}s "
                f"±{self.jitter:.0%}, {dur}")

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"executor": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("segment", "vu_id_offset", "agent_range") or (
                    f.name in ("tags", "options_extra") and not value):
                continue
            if f.name == "agent":
                value = f"{value.__module__}.{value.__qualname__}"
            elif f.name == "token":
                value = bool(value)
            out[f.name] = value
        return out

    def format_status(self, status: Mapping[str, float]) -> str | None:
        return fm.format_status(status, self.agent.transport)

    def summary_extra(self, status: Mapping[str, float], view: Any) -> dict[str, Any] | None:
        section = fm.summary_section(status, view, {}, self.agent.transport)
        return {"fleet": section, "text": fm.summary_lines(section)}

    async def run(self, rt: ScenarioRuntime) -> None:
        ctx = FleetContext(self, rt)
        await ctx.run()


def _replace(ex: Fleet, **changes: Any) -> Fleet:
    from dataclasses import replace

    return replace(ex, **changes)


class FleetContext:
    """One worker's share of the fleet: agents, the timer heap, shared clients.
    Agents see it as ``self.fleet``."""

    def __init__(self, ex: Fleet, rt: ScenarioRuntime) -> None:
        self.ex = ex
        self.rt = rt
        self.run_id = rt.run_id
        self.hostname_prefix = ex.hostname_prefix
        self.options = ex.options_extra
        self.token = ex.token
        self.grpc_target = ex.grpc_target
        self.rng = random.Random(f"{rt.run_id}:{rt.name}:{ex.segment[0]}")
        self.metrics_step = 100.0 * ex.metrics_jitter
        self.interval = float(ex.heartbeat_interval)
        self.poll_interval = float(ex.work_poll_interval)
        self.jitter = ex.jitter
        self.stats = fm.FleetStats(rt)
        self.lo, self.hi = ex.agent_range or (0, ex.agents)
        self.agents: list[Agent] = []
        self.closing = False
        self.loop = asyncio.get_running_loop()
        self._heap: list[tuple[float, int, Agent | None, int]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._armed_at = float("inf")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reg_queue: deque[Agent] = deque()
        self._reg_wake = asyncio.Event()
        self._reg_in_flight = 0
        self._second: asyncio.TimerHandle | None = None
        self.shared: dict[str, Any] = {}
        """Per-worker shared resources of agent classes (gRPC channels...)."""

    # -- scheduling -----------------------------------------------------------------------
    def schedule(self, due: float, agent: Agent | None, action: int) -> None:
        code = (agent._gen << 3 | action) if agent is not None else action
        heapq.heappush(self._heap, (due, next(self._seq), agent, code))
        if due < self._armed_at:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = due
        delay = due - time.perf_counter()
        if delay <= 0:
            self._handle = self.loop.call_soon(self._fire)
        else:
            self._handle = self.loop.call_at(self.loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = float("inf")
        if self.closing:
            return
        heap = self._heap
        now = time.perf_counter() + 0.0005
        n = 0
        while heap and heap[0][0] <= now and n < _BATCH:
            due, _, agent, code = heapq.heappop(heap)
            n += 1
            if agent is None:
                continue
            action = code & 7
            if code >> 3 != agent._gen:
                continue  # stale: the agent reconnected or re-registered since
            if action == HEARTBEAT:
                if agent._state == A.CONNECTED:
                    self.schedule(due + self.next_interval(self.interval), agent, HEARTBEAT)
                    self.spawn(self._beat(agent, due))
            elif action == POLL:
                if agent._state == A.CONNECTED:
                    self.schedule(due + self.next_interval(self.poll_interval), agent, POLL)
                    self.spawn(self._poll(agent))
            elif action == START:
                self._reg_queue.append(agent)
                self._reg_wake.set()
            elif action == RECONNECT:
                self.spawn(self._connect(agent, reconnect=True))
        if heap:
            self._arm(heap[0][0])

    def next_interval(self, base: float) -> float:
        j = self.jitter
        return base * (1.0 + j * (2.0 * self.rng.random() - 1.0)) if j else base

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- state bookkeeping ----------------------------------------------------------------------
    _REG_KEYS = (None, "regs_active", "regs_pending", "regs_failed")

    def _set_reg(self, agent: Agent, reg: int) -> None:
        old = agent._reg
        if old == reg:
            return
        st = self.stats.status
        if old:
            st[self._REG_KEYS[old]] -= 1  # type: ignore[index]
        if reg:
            st[self._REG_KEYS[reg]] += 1  # type: ignore[index]
        agent._reg = reg

    def _set_connected(self, agent: Agent, connected: bool) -> None:
        was = agent._state == A.CONNECTED
        agent._state = A.CONNECTED if connected else A.DISCONNECTED
        if agent.uses_stream and was != connected:
            self.stats.status["streams_open"] += 1 if connected else -1

    def disconnected(self, agent: Agent, reason: str) -> None:
        if self.closing or agent._state != A.CONNECTED:
            return
        self.stats.error(reason)
        self._set_connected(agent, False)
        agent._gen += 1
        self.schedule(time.perf_counter() + backoff_delay(agent._failures, self.rng), agent,
                      RECONNECT)
        agent._failures += 1

    # -- agent lifecycle --------------------------------------------------------------------------
    async def _register_pump(self) -> None:
        while not self.closing:
            if not self._reg_queue:
                self._reg_wake.clear()
                await self._reg_wake.wait()
                continue
            agent = self._reg_queue.popleft()
            await self._register(agent)

    async def _register(self, agent: Agent, *, preflight: bool = False) -> None:
        stats = self.stats
        self._reg_in_flight += 1
        st = stats.status
        if self._reg_in_flight > st["max_reg_in_flight"]:
            st["max_reg_in_flight"] = float(self._reg_in_flight)
        agent._state = A.REGISTERING
        t0 = time.perf_counter()
        try:
            outcome = await asyncio.wait_for(agent.register(),
                                             timeout=float(self.ex.registration_timeout))
        except (TimeoutError, A.RegistrationTimeout) as exc:
            stats.registration("timeout", time.perf_counter() - t0)
            self._set_reg(agent, 2)
            agent._state = A.PENDING
            text = f"registration timed out{': ' + str(exc) if str(exc) else ''}"
            if preflight:
                raise ConfigError(f"fleet preflight: {text}") from None
            stats.error(text)
            self._retry_registration(agent)
            return
        except A.Rejected as exc:
            stats.registration("rejected", time.perf_counter() - t0)
            self._set_reg(agent, 3)
            agent._state = A.FAILED
            if preflight:
                raise ConfigError(f"fleet preflight: the target rejected the agent registration "
                                  f"({exc}); check --token") from None
            stats.error(f"registration rejected: {exc}")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stats.registration("error", time.perf_counter() - t0)
            self._set_reg(agent, 3)
            text = f"registration failed: {_text(exc)}"
            if preflight:
                raise ConfigError(f"fleet preflight: {text}") from None
            stats.error(text)
            self._retry_registration(agent)
            return
        finally:
            self._reg_in_flight -= 1
        stats.registration(outcome, time.perf_counter() - t0)
        if outcome == "pending":
            self._set_reg(agent, 2)
            agent._state = A.PENDING
            if preflight:
                raise ConfigError(
                    "fleet preflight: registration came back PENDING: the token cannot "
                    "auto-approve agents (the target needs auto-approve, or a token that "
                    f"has it); aborting instead of leaving {self.ex.agents:,} agents pending")
            return
        self._set_reg(agent, 1)
        agent._failures = 0
        await self._connect(agent, reconnect=False)

    def _retry_registration(self, agent: Agent) -> None:
        if self.closing:
            return
        agent._gen += 1
        self.schedule(time.perf_counter() + backoff_delay(agent._failures, self.rng), agent, START)
        agent._failures += 1

    async def _connect(self, agent: Agent, *, reconnect: bool) -> None:
        if self.closing:
            return
        try:
            await agent.open()
        except asyncio.CancelledError:
            raise
        except A.Unregistered as exc:
            self.stats.error(f"open: not registered ({exc}); registering again")
            agent._gen += 1
            self._set_reg(agent, 0)
            agent._state = A.NEW
            self.schedule(time.perf_counter() + backoff_delay(agent._failures, self.rng), agent,
                          START)
            agent._failures += 1
            return
        except A.PendingApproval:
            self._set_reg(agent, 2)
            agent._state = A.PENDING
            return
        except Exception as exc:
            self.stats.error(f"connect: {_text(exc)}")
            agent._state = A.DISCONNECTED
            agent._gen += 1
            self.schedule(time.perf_counter() + backoff_delay(agent._failures, self.rng), agent,
                          RECONNECT)
            agent._failures += 1
            return
        if self.closing:
            return
        if reconnect:
            self.stats.reconnect()
        agent._failures = 0
        agent._gen += 1
        self._set_connected(agent, True)
        now = time.perf_counter()
        # A random first tick: the fleet never beats in lockstep.
        self.schedule(now + self.rng.random() * self.interval, agent, HEARTBEAT)
        if agent.has_poll and self.ex.tasks:
            self.schedule(now + self.rng.random() * self.poll_interval, agent, POLL)

    async def _beat(self, agent: Agent, due: float) -> None:
        self.stats.lateness.append(max(0.0, time.perf_counter() - due))
        agent.tick_due = due
        try:
            await agent.heartbeat()
        except A.Disconnected as exc:
            self.disconnected(agent, f"heartbeat: {exc}")
        except A.Unregistered as exc:
            self._reregister(agent, f"heartbeat: {exc}")
        except A.PendingApproval:
            self._set_reg(agent, 2)
            self._set_connected(agent, False)
            agent._state = A.PENDING
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.error(f"heartbeat: {_text(exc)}")

    async def _poll(self, agent: Agent) -> None:
        try:
            await agent.poll()
        except A.Disconnected as exc:
            self.disconnected(agent, f"poll: {exc}")
        except A.Unregistered as exc:
            self._reregister(agent, f"poll: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.error(f"poll: {_text(exc)}")

    def _reregister(self, agent: Agent, reason: str) -> None:
        if self.closing:
            return
        self.stats.error(reason)
        self._set_connected(agent, False)
        self._set_reg(agent, 0)
        agent._state = A.NEW
        agent._gen += 1
        self.schedule(time.perf_counter() + backoff_delay(agent._failures, self.rng), agent, START)
        agent._failures += 1

    # -- the run ------------------------------------------------------------------------------
    def _every_second(self) -> None:
        self.stats.every_second()
        if not self.closing:
            self._second = self.loop.call_later(1.0, self._every_second)

    async def run(self) -> None:
        ex, rt = self.ex, self.rt
        cls = ex.agent
        setup: Callable[[FleetContext], Any] | None = getattr(cls, "setup_fleet", None)
        if setup is not None:
            await setup(self)
        raise_nofile(int(getattr(cls, "sockets_needed", _default_sockets)(self)))
        total, ramp = ex.agents, float(ex.ramp)
        local = self.hi - self.lo
        self.agents = [cls(self, i) for i in range(self.lo, self.hi)]
        self.stats.status["agents"] = float(local)
        self._every_second()
        pumps: list[asyncio.Task[None]] = []
        try:
            first = 0
            if ex.preflight and local:
                # This worker's first agent registers alone: a token that cannot
                # register (or only leaves agents pending) stops the run here.
                await sleep_until(rt.start, rt.stopping)
                await self._register(self.agents[0], preflight=True)
                first = 1
            entries = [(rt.start + (i + self.lo) * ramp / total, next(self._seq), a, START)
                       for i, a in enumerate(self.agents) if i >= first]
            self._heap.extend(entries)
            heapq.heapify(self._heap)
            if self._heap:
                self._arm(self._heap[0][0])
            pumps = [self.loop.create_task(self._register_pump())
                     for _ in range(ex.registration_concurrency)]
            end = rt.start + float(ex.duration) if float(ex.duration) else float("inf")
            if end == float("inf"):
                await rt.stopping.wait()
            else:
                await sleep_until(end, rt.stopping)
        finally:
            await self._shutdown(pumps)
            teardown = getattr(cls, "teardown_fleet", None)
            if teardown is not None:
                await teardown(self)

    async def _shutdown(self, pumps: list[asyncio.Task[None]]) -> None:
        self.closing = True
        if self._handle is not None:
            self._handle.cancel()
        if self._second is not None:
            self._second.cancel()
        self.stats.every_second()
        self._reg_wake.set()
        for p in pumps:
            p.cancel()
        grace = float(self.ex.graceful_stop)
        closers = [a.close() for a in self.agents if a._state == A.CONNECTED]
        if closers:
            done = asyncio.gather(*closers, return_exceptions=True)
            try:
                await asyncio.wait_for(done, timeout=max(grace, 0.1))
            except TimeoutError:
                self.stats.error("close: agents did not close their streams in time")
        for a in self.agents:
            if a._state == A.CONNECTED:
                self._set_connected(a, False)
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks or pumps:
            await asyncio.gather(*tasks, *pumps, return_exceptions=True)
        self.stats.every_second()


def _default_sockets(ctx: FleetContext) -> int:
    return 256


def _text(exc: BaseException) -> str:
    msg = str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
