"""One worker's share of a fleet at run time: agents, their lifecycle, the ramp.

What happens to an agent is an :class:`~fleetload.fleet.transitions.Event`;
what an event does is one row of the transition table
(:mod:`fleetload.fleet.transitions`). Registrations run
in at most ``registration_concurrency`` tasks, each taking the next queued
agent (ramp order) when it is done, so an idle cap costs nothing and a busy
one never wakes more than one task per agent. Ticks come from one
:class:`~fleetload.fleet.schedule.TimerHeap`; a due heartbeat spawns a short
task for that one tick, agents between ticks are plain slotted objects.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from fleetload.engine.executors.base import sleep_until
from fleetload.engine.runtime import ScenarioRuntime
from fleetload.errors import ConfigError
from fleetload.fleet import agent as A
from fleetload.fleet import metrics as fm
from fleetload.fleet.agent import Agent, State
from fleetload.fleet.backoff import backoff_delay
from fleetload.fleet.config import Fleet
from fleetload.fleet.limits import raise_nofile
from fleetload.fleet.schedule import TimerHeap, code_of
from fleetload.fleet.transitions import REG_KEYS, TRANSITIONS, Action, Event


class FleetContext:
    """One worker's share of the fleet. Agents see it as ``self.fleet``
    (the :class:`~fleetload.fleet.agent.FleetLike` protocol)."""

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
        self.timers = TimerHeap(self.loop, self._due)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
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
    def schedule(self, due: float, agent: Agent, action: Action) -> None:
        self.timers.push(due, agent.index - self.lo, code_of(agent._gen, action))

    def _due(self, due: float, i: int, code: int) -> None:
        """A heap entry is due (from the timer heap's pass)."""
        agent = self.agents[i]
        if code >> 3 != agent._gen:
            return  # stale: the agent reconnected or re-registered since
        action = code & 7
        if action == Action.HEARTBEAT or action == Action.POLL:
            if agent._state != State.CONNECTED:
                return
            beat = action == Action.HEARTBEAT
            base = self.interval if beat else self.poll_interval
            # Same agent, same generation: straight back on the heap.
            self.timers.repush(due + self.next_interval(base), i, code)
            self.spawn(self._beat(agent, due) if beat else self._poll(agent))
        elif action == Action.START:
            self._start_registration(agent)
        elif action == Action.RECONNECT:
            self.spawn(self._connect(agent, reconnect=True))

    def next_interval(self, base: float) -> float:
        j = self.jitter
        return base * (1.0 + j * (2.0 * self.rng.random() - 1.0)) if j else base

    def spawn(self, coro: Coroutine[Any, Any, Any], *, background: bool = False) -> None:
        """Run ``coro`` as part of the fleet: cancelled at the end of the run.
        Requests (``background=False``) are first given the graceful stop to
        finish; background services (``True``) run until cancelled."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if background:
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # -- transitions ------------------------------------------------------------------------
    def transition(self, agent: Agent, event: Event) -> None:
        """Apply one row of :data:`TRANSITIONS` to ``agent``."""
        t = TRANSITIONS[event]
        st = self.stats.status
        if t.registration is not None and t.registration != agent._reg:
            if agent._reg:
                st[REG_KEYS[agent._reg]] -= 1
            if t.registration:
                st[REG_KEYS[t.registration]] += 1
            agent._reg = t.registration
        if t.state is not None:
            was = agent._state == State.CONNECTED
            now = t.state == State.CONNECTED
            if agent.uses_stream and was != now:
                st["streams_open"] += 1 if now else -1
            agent._state = t.state
        if t.settles:
            self._settle(agent)
        if t.retry is not None and not self.closing:
            agent._gen += 1
            self.schedule(time.perf_counter() + backoff_delay(agent._failures, self.rng), agent,
                          t.retry)
            agent._failures += 1

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

    def disconnected(self, agent: Agent, reason: str) -> None:
        """The agent's stream or connection dropped: reconnect with backoff."""
        if self.closing or agent._state != State.CONNECTED:
            return
        self.stats.error(reason)
        self.transition(agent, Event.DROPPED)

    def reregister(self, agent: Agent, reason: str) -> None:
        """The server no longer knows the agent: register again with backoff."""
        if self.closing:
            return
        self.stats.error(reason)
        self.transition(agent, Event.UNREGISTERED)

    # -- registration -----------------------------------------------------------------------
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
        agent._state = State.REGISTERING
        t0 = time.perf_counter()
        failure: tuple[Event, str, str] | None = None  # (event, outcome, text)
        try:
            outcome = await asyncio.wait_for(agent.register(),
                                             timeout=float(self.ex.registration_timeout))
        except (TimeoutError, A.RegistrationTimeout) as exc:
            failure = (Event.TIMED_OUT, "timeout",
                       f"registration timed out{': ' + str(exc) if str(exc) else ''}")
        except A.Rejected as exc:
            failure = (Event.REJECTED, "rejected", f"registration rejected: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failure = (Event.REG_FAILED, "error", f"registration failed: {_text(exc)}")
        finally:
            self._reg_in_flight -= 1
        if failure is not None:
            event, outcome, text = failure
            stats.registration(outcome, time.perf_counter() - t0)
            if preflight:
                if event is Event.REJECTED:
                    why = text.split(": ", 1)[1]
                    hint = ("check the agents' client identities (--identities, --mint-identities)"
                            if "certificate" in why.lower() else "check --token")
                    text = f"the target rejected the agent registration ({why}); {hint}"
                raise ConfigError(f"fleet preflight: {text}")
            stats.error(text)
            self.transition(agent, event)
            return
        stats.registration(outcome, time.perf_counter() - t0)
        if outcome == "pending":
            self.transition(agent, Event.PENDING)
            if preflight:
                raise ConfigError(
                    "fleet preflight: registration came back PENDING: the token cannot "
                    "auto-approve agents (the target needs auto-approve, or a token that "
                    f"has it); aborting instead of leaving {self.ex.agents:,} agents pending")
            return
        self.transition(agent, Event.ACTIVE)
        agent._failures = 0
        await self._connect(agent, reconnect=False)

    # -- connection and ticks -------------------------------------------------------------------
    async def _connect(self, agent: Agent, *, reconnect: bool) -> None:
        if self.closing:
            return
        try:
            await agent.open()
        except asyncio.CancelledError:
            raise
        except A.Unregistered as exc:
            self.stats.error(f"open: not registered ({exc}); registering again")
            self.transition(agent, Event.UNREGISTERED)
            return
        except A.PendingApproval:
            self.transition(agent, Event.PENDING)
            return
        except Exception as exc:
            self.stats.error(f"connect: {_text(exc)}")
            self.transition(agent, Event.CONNECT_FAILED)
            return
        if self.closing:
            return
        if reconnect:
            self.stats.reconnect()
        agent._failures = 0
        agent._gen += 1
        self.transition(agent, Event.CONNECTED)
        now = time.perf_counter()
        # A random first tick: the fleet never beats in lockstep.
        self.schedule(now + self.rng.random() * self.interval, agent, Action.HEARTBEAT)
        if agent.has_poll and self.ex.tasks:
            self.schedule(now + self.rng.random() * self.poll_interval, agent, Action.POLL)

    async def _beat(self, agent: Agent, due: float) -> None:
        late = time.perf_counter() - due
        stats = self.stats
        (stats.lateness_steady if due >= self.steady_from else stats.lateness_ramp).append(
            late if late > 0.0 else 0.0)
        agent.tick_due = due
        await self._guarded(agent, "heartbeat", agent.heartbeat())

    async def _poll(self, agent: Agent) -> None:
        await self._guarded(agent, "poll", agent.poll())

    async def _guarded(self, agent: Agent, what: str, call: Coroutine[Any, Any, None]) -> None:
        """A heartbeat or poll: what it raises says what happened to the agent."""
        try:
            await call
        except A.Disconnected as exc:
            self.disconnected(agent, f"{what}: {exc}")
        except A.Unregistered as exc:
            self.reregister(agent, f"{what}: {exc}")
        except A.PendingApproval:
            self.transition(agent, Event.PENDING)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats.error(f"{what}: {_text(exc)}")

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
        await cls.setup_fleet(self)
        raise_nofile(int(cls.sockets_needed(self)))
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
            start = code_of(0, Action.START)
            self.timers.load((rt.start + (i + self.lo) * ramp / total, i, start)
                             for i in range(first, local))
            _freeze()
            end = rt.start + float(ex.duration) if float(ex.duration) else float("inf")
            if end == float("inf"):
                await rt.stopping.wait()
            else:
                await sleep_until(end, rt.stopping)
        finally:
            await self._shutdown()
            await cls.teardown_fleet(self)

    async def _shutdown(self) -> None:
        self.closing = True
        self.timers.close()
        if self._second is not None:
            self._second.cancel()
        self.stats.every_second()
        self._reg_queue.clear()
        # Requests already on the wire finish (within the graceful stop) before
        # connections close: a beat the server received is a beat counted.
        grace_end = time.perf_counter() + max(float(self.ex.graceful_stop), 0.1)
        requests = self._tasks - self._background
        if requests:
            await asyncio.wait(requests, timeout=grace_end - time.perf_counter())
        closers = [a.close() for a in self.agents if a._state == State.CONNECTED]
        if closers:
            done = asyncio.gather(*closers, return_exceptions=True)
            try:
                await asyncio.wait_for(done, timeout=max(grace_end - time.perf_counter(), 0.1))
            except TimeoutError:
                self.stats.error("close: agents did not close their streams in time")
        for a in self.agents:
            if a._state == State.CONNECTED:
                self.transition(a, Event.DROPPED)
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


def _text(exc: BaseException) -> str:
    msg = str(exc)
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
