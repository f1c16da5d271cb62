"""The ``fleet`` executor: N virtual agents on one timer heap per worker.

No task per agent: one heap of (due time, agent, action) entries served by a
single loop timer, which fires every due entry in one pass and then sleeps
until the next due entry (at least 1 ms: uvloop timers have ms resolution). A
due heartbeat spawns a short task for that one tick; agents between ticks are
plain slotted objects. Registrations run in at most registration-concurrency
tasks, each taking the next queued agent (ramp order) when it is done, so an
idle cap costs nothing and a busy one never wakes more than one task per agent.
"""

from __future__ import annotations

import asyncio
import gc
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
_EARLY = 0.001  # entries due within this much are served in the current pass


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
        # Entries (due, seq, local agent index or -1, code): numbers only, so the
        # GC untracks them and a heap of 100k ticks costs no collection time.
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._armed_at = float("inf")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reg_queue: deque[Agent] = deque()
        self._reg_workers = 0
        self._reg_in_flight = 0
        self._second: asyncio.TimerHandle | None = None
        # The ramp: agents not yet settled (connected, pending or rejected) after
        # their first registration. Ticks due before ``steady_from`` (the ramp's
        # end + one interval) are recorded as phase "ramp", later ones "steady".
        self._ramping = bytearray()
        self._ramp_left = 0
        self.steady_from = float("inf")
        self.shared: dict[str, Any] = {}
        """Per-worker shared resources of agent classes (gRPC channels...)."""

    # -- scheduling -----------------------------------------------------------------------
    def schedule(self, due: float, agent: Agent | None, action: int) -> None:
        if agent is None:
            heapq.heappush(self._heap, (due, next(self._seq), -1, action))
        else:
            heapq.heappush(self._heap, (due, next(self._seq), agent.index - self.lo,
                                        agent._gen << 3 | action))
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
            self._handle = self.loop.call_at(self.loop.time() + max(delay, _EARLY), self._fire)

    def _fire(self) -> None:
        """Serve every entry due now (up to ``_BATCH``), then re-arm once."""
        self._handle = None
        self._armed_at = float("inf")
        if self.closing:
            return
        heap, agents = self._heap, self.agents
        pop, push, seq = heapq.heappop, heapq.heappush, self._seq
        now = time.perf_counter() + _EARLY
        n = 0
        while heap and heap[0][0] <= now and n < _BATCH:
            due, _, i, code = pop(heap)
            n += 1
            if i < 0:
                continue
            agent = agents[i]
            action = code & 7
            if code >> 3 != agent._gen:
                continue  # stale: the agent reconnected or re-registered since
            if action == HEARTBEAT:
                if agent._state == A.CONNECTED:
                    # Same agent, same generation: push directly (no re-arm per entry).
                    push(heap, (due + self.next_interval(self.interval), next(seq), i, code))
                    self.spawn(self._beat(agent, due))
            elif action == POLL:
                if agent._state == A.CONNECTED:
                    push(heap, (due + self.next_interval(self.poll_interval), next(seq), i, code))
                    self.spawn(self._poll(agent))
            elif action == START:
                self._start_registration(agent)
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

    def _settle(self, agent: Agent) -> None:
        """The agent is through the ramp (connected, pending or rejected)."""
        i = agent.index - self.lo
        if self._ramping[i]:
            self._ramping[i] = 0
            self._ramp_left -= 1
            st = self.stats.status
            st["ramp_pending"] -= 1
            if not self._ramp_left:
                now = time.perf_counter()
                self.steady_from = now + self.interval
                st["max_ramp_done_s"] = max(now - self.rt.start, 1e-3)
                _freeze()

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
    def _start_registration(self, agent: Agent) -> None:
        """Register now if under the cap, else queue (a running one takes it next)."""
        if self._reg_workers < self.ex.registration_concurrency:
            self._reg_workers += 1
            self.spawn(self._registration_worker(agent))
        else:
            self._reg_queue.append(agent)

    async def _registration_worker(self, agent: Agent) -> None:
        try:
            while True:
                await self._register(agent)
                if self.closing or not self._reg_queue:
                    return
                agent = self._reg_queue.popleft()
        finally:
            self._reg_workers -= 1

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
            self._settle(agent)
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
            self._settle(agent)
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
            self._settle(agent)
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
        self._settle(agent)
        now = time.perf_counter()
        # A random first tick: the fleet never beats in lockstep.
        self.schedule(now + self.rng.random() * self.interval, agent, HEARTBEAT)
        if agent.has_poll and self.ex.tasks:
            self.schedule(now + self.rng.random() * self.poll_interval, agent, POLL)

    async def _beat(self, agent: Agent, due: float) -> None:
        late = time.perf_counter() - due
        stats = self.stats
        (stats.lateness_steady if due >= self.steady_from else stats.lateness_ramp).append(
            late if late > 0.0 else 0.0)
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
        if self._ramp_left and not self.closing:
            # While agents register, what they keep (streams, reader tasks, keys)
            # piles up in the oldest generation: freeze it every second so full
            # collections stay short (gRPC, 20k agents: 100-700 ms otherwise).
            gc.collect(1)
            _freeze()
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
        self._ramping = bytearray(b"\x01") * local
        self._ramp_left = local
        self.stats.status["ramp_pending"] = float(local)
        self._every_second()
        try:
            first = 0
            if ex.preflight and local:
                # This worker's first agent registers alone: a token that cannot
                # register (or only leaves agents pending) stops the run here.
                await sleep_until(rt.start, rt.stopping)
                await self._register(self.agents[0], preflight=True)
                first = 1
            self._heap.extend((rt.start + (i + self.lo) * ramp / total, next(self._seq), i, START)
                              for i in range(first, local))
            heapq.heapify(self._heap)
            _freeze()
            if self._heap:
                self._arm(self._heap[0][0])
            end = rt.start + float(ex.duration) if float(ex.duration) else float("inf")
            if end == float("inf"):
                await rt.stopping.wait()
            else:
                await sleep_until(end, rt.stopping)
        finally:
            await self._shutdown()
            teardown = getattr(cls, "teardown_fleet", None)
            if teardown is not None:
                await teardown(self)

    async def _shutdown(self) -> None:
        self.closing = True
        if self._handle is not None:
            self._handle.cancel()
        if self._second is not None:
            self._second.cancel()
        self.stats.every_second()
        self._reg_queue.clear()
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
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.stats.every_second()


def _freeze() -> None:
    """Move every object alive now (agents, their keys and ids, streams, the
    loaded code) to the GC's permanent generation: full collections then no
    longer walk the fleet, which at 100k HTTP agents stalls the loop ~100 ms and
    at 20k gRPC agents up to 700 ms each time. Called once the agents exist,
    every second of the ramp (after a young-generation collection) and when the
    ramp is done. Frozen objects are still freed by reference counting; only
    cycles among them would linger."""
    gc.freeze()


def _default_sockets(ctx: FleetContext) -> int:
    return 256


def _text(exc: BaseException) -> str:
    msg = str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
