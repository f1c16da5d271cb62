"""The reference target's gRPC agent ingest on ``grpc.aio``.

``Register``, then a bidirectional ``Heartbeat`` stream (first message ``hello``
with the agent token; each heartbeat is acked with its ``seq``, which gives the
round trip) that stays open; pushed tasks, checks and inventory requests are
answered on the stream and through ``SubmitInventory``, terminal requests and
queries as :mod:`grpc_pushes` says. ``--conn-fanout`` agents share one channel
(one HTTP/2 connection): the streams of a channel are multiplexed, so sockets
are agents / fanout; agents with their own client certificate
(``Fleet.identities``) have a channel each (:mod:`grpc_channels`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import grpc
import grpc.aio

from fleetload.errors import ConfigError
from fleetload.fleet import grpc_pushes
from fleetload.fleet.agent import (
    AGENT_VERSION,
    Agent,
    Disconnected,
    FleetLike,
    PendingApproval,
    RegistrationTimeout,
    Rejected,
    Unregistered,
)
from fleetload.fleet.grpc_channels import Channels
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc

DEFAULT_GRPC_PORT = 9443
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
              grpc.StatusCode.CANCELLED}

def _err(e: grpc.aio.AioRpcError) -> str:
    code = e.code()
    return f"{code.name if code else 'UNKNOWN'}: {(e.details() or '')[:120]}"


async def derive_grpc_target(ctx: FleetLike) -> str:
    """``--grpc-target`` if given; else what the target advertises in ``GET
    /version`` (``grpc``/``grpc_target``); else the --target host on port 9443.
    A derived address without a scheme is TLS (``grpcs://``) when --target is
    https."""
    if ctx.grpc_target:
        return ctx.grpc_target
    base = ctx.rt.client._base  # the run's --target
    if not base:
        raise ConfigError("the gRPC fleet needs --grpc-target HOST:PORT (or --target URL)")
    scheme = "grpcs://" if base.startswith("https:") else ""
    resp = await ctx.rt.client.request("GET", base.rstrip("/") + "/version", timeout=5.0)
    if resp.status == 200:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("grpc_target", "grpc"):
                if isinstance(data.get(key), str) and data[key]:
                    value = str(data[key])
                    return value if "://" in value else scheme + value
    host = urlsplit(base).hostname or "127.0.0.1"
    return f"{scheme}{host}:{DEFAULT_GRPC_PORT}"


class GrpcAgent(Agent):
    """An agent on the AgentIngest service (fleetproto)."""

    __slots__ = ("_ack_waiter", "_busy", "_call", "_idle", "_lock", "_reader", "_sent_at",
                 "_sent_seq")
    transport: ClassVar[str] = "grpc"
    uses_stream: ClassVar[bool] = True

    def __init__(self, fleet: FleetLike, index: int) -> None:
        super().__init__(fleet, index)
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._sent_seq = 0
        self._sent_at = 0.0
        self._ack_waiter: asyncio.Future[None] | None = None
        self._busy = 0  # pushes being answered
        self._idle: asyncio.Future[None] | None = None

    # -- per-worker setup --------------------------------------------------------------
    @staticmethod
    async def setup_fleet(ctx: FleetLike) -> None:
        target = await derive_grpc_target(ctx)
        ctx.shared["channels"] = Channels(
            target, ctx.ex.conn_fanout, ctx.stats, ca_file=getattr(ctx.rt.client, "_ca_file", None),
            identities=ctx.ex.identities, connect_timeout=float(ctx.ex.registration_timeout))
        if not ctx.token:
            raise ConfigError("the gRPC fleet needs a registration token: --token KEY")

    @staticmethod
    def sockets_needed(ctx: FleetLike) -> int:
        fanout = 1 if ctx.ex.identities is not None else max(1, ctx.ex.conn_fanout)
        return (ctx.hi - ctx.lo) // fanout + 64

    @staticmethod
    async def teardown_fleet(ctx: FleetLike) -> None:
        channels = ctx.shared.pop("channels", None)
        if channels is not None:
            await channels.close()

    @property
    def _channels(self) -> Channels:
        channels: Channels = self.fleet.shared["channels"]
        return channels

    async def _stub(self) -> pb_grpc.AgentIngestStub:
        return await self._channels.stub(self.index - self.fleet.lo, self.index, self.hostname)

    def _failure(self, e: grpc.aio.AioRpcError) -> str:
        """The error's text; a TLS handshake failure when the channel never connected."""
        if e.code() != grpc.StatusCode.UNAVAILABLE:
            return _err(e)
        return self._channels.failure(self.index - self.fleet.lo, _err(e))

    # -- lifecycle -----------------------------------------------------------------------
    async def register(self) -> str:
        fleet = self.fleet
        req = pb.RegisterRequest(hostname=self.hostname, public_key=self.ensure_keys(),
                                 labels={"run_id": fleet.run_id, "fleetload": "agent"},
                                 token=fleet.token or "", os="linux", architecture="amd64",
                                 version=AGENT_VERSION)
        stub = await self._stub()
        self.stats.sent(req.ByteSize())
        try:
            resp = await stub.Register(req, timeout=float(fleet.ex.registration_timeout))
        except grpc.aio.AioRpcError as e:
            code = e.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise RegistrationTimeout(_err(e)) from None
            if code in _RETRYABLE:
                raise ConnectionError(self._failure(e)) from None
            # PERMISSION_DENIED here is a refusal (e.g. "certificate does not
            # name <hostname>"), never "pending": pending comes back as a status.
            raise Rejected(_err(e)) from None
        self.agent_id = resp.agent_id
        self.token = resp.agent_token
        return "pending" if resp.status == pb.REGISTRATION_STATUS_PENDING else "active"

    async def open(self) -> None:
        """Open the stream, say hello, and confirm it with one acked heartbeat."""
        loop = asyncio.get_running_loop()
        call = (await self._stub()).Heartbeat()
        self._call = call
        self._lock = asyncio.Lock()
        self._sent_seq = 0
        waiter: asyncio.Future[None] = loop.create_future()
        self._ack_waiter = waiter
        self._reader = loop.create_task(self._read(call))
        sent = False
        try:
            hello = pb.AgentMessage(hello=pb.Hello(agent_token=self.token or ""))
            await call.write(hello)
            self.stats.sent(hello.ByteSize())
            await self._send_heartbeat()
            sent = True
            await asyncio.wait_for(waiter, timeout=OPEN_TIMEOUT)
        except BaseException as exc:
            self._ack_waiter = None
            await self._drop(call)
            # A connection attempt is a heartbeat that did not get through (once:
            # the reader already counted it when the stream failed with it pending).
            if not sent or self._sent_seq:
                self._sent_seq = 0
                self.stats.heartbeat_result(False)
            if isinstance(exc, grpc.aio.AioRpcError):
                raise Disconnected(self._failure(exc)) from None
            raise

    async def _drop(self, call: Any) -> None:
        call.cancel()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self._reader = None
        if self._call is call:
            self._call = None

    async def _write(self, msg: pb.AgentMessage) -> None:
        call, lock = self._call, self._lock
        if call is None or lock is None:
            raise Disconnected("no stream")
        try:
            async with lock:
                await call.write(msg)
        except grpc.aio.AioRpcError as e:
            raise Disconnected(_err(e)) from None
        except (grpc.aio.UsageError, grpc.aio.InternalError, RuntimeError) as e:
            raise Disconnected(f"stream closed ({type(e).__name__})") from None
        self.stats.sent(msg.ByteSize())

    async def _send_heartbeat(self) -> None:
        self.seq += 1
        msg = pb.AgentMessage(heartbeat=pb.HeartbeatPing(seq=self.seq, metrics=self.sample_metrics(),
                                                         version=AGENT_VERSION))
        self._sent_seq = self.seq
        self._sent_at = time.perf_counter()
        await self._write(msg)
        self.stats.heartbeat_sent(0)

    async def heartbeat(self) -> None:
        if self._sent_seq:
            # The previous heartbeat was never acked.
            self._sent_seq = 0
            self.stats.heartbeat_result(False)
            self.stats.error("heartbeat: no ack before the next tick")
        try:
            await self._send_heartbeat()
        except Disconnected:
            self._sent_seq = 0
            self.stats.heartbeat_result(False)
            raise

    async def _read(self, call: Any) -> None:
        reason = "stream ended by the server"
        code = None
        pending = False
        try:
            while True:
                msg = await call.read()
                if msg is grpc.aio.EOF:
                    break
                kind = msg.WhichOneof("body")
                if kind == "ack":
                    if msg.ack.seq == self._sent_seq:
                        self._sent_seq = 0
                        self.stats.heartbeat_result(True, time.perf_counter() - self._sent_at)
                        waiter = self._ack_waiter
                        if waiter is not None:
                            self._ack_waiter = None
                            if not waiter.done():
                                waiter.set_result(None)
                else:
                    self.fleet.spawn(self._push(kind, getattr(msg, kind)))
        except asyncio.CancelledError:
            return
        except grpc.aio.AioRpcError as e:
            code = e.code()
            reason = f"stream: {self._failure(e)}"
            # PERMISSION_DENIED means "not approved" only when the server says
            # so; any other refusal (a certificate) is a dropped stream.
            pending = code == grpc.StatusCode.PERMISSION_DENIED and "pending" in (e.details() or "")
        except Exception as e:
            reason = f"stream: {type(e).__name__}: {e}"
        if self._sent_seq:
            self._sent_seq = 0
            self.stats.heartbeat_result(False)
        waiter = self._ack_waiter
        if waiter is not None:
            self._ack_waiter = None
            if not waiter.done():
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    waiter.set_exception(Unregistered(reason))
                elif pending:
                    waiter.set_exception(PendingApproval(reason))
                else:
                    waiter.set_exception(Disconnected(reason))
            return
        if self._call is call:
            self._call = None
            self._reader = None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                self.fleet.reregister(self, reason)
            else:
                self.disconnected(reason)

    # -- pushes ------------------------------------------------------------------------------
    async def _push(self, kind: str, message: Any) -> None:
        self._busy += 1
        try:
            await self.on_push(kind, message)
        except Disconnected:
            pass  # the reader sees the stream end and reconnects
        except grpc.aio.AioRpcError as e:
            self.stats.error(f"{kind}: {_err(e)}")
        finally:
            self._busy -= 1
            idle = self._idle
            if not self._busy and idle is not None:
                self._idle = None
                if not idle.done():
                    idle.set_result(None)

    async def _pushes_answered(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until no push is being answered."""
        if self._busy:
            idle = self._idle = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(idle, timeout)

    async def on_push(self, kind: str, message: Any) -> None:
        ex = self.fleet.ex
        stats = self.stats
        if kind == "task":
            if not ex.tasks:
                stats.push("task_ignored")
                return
            await self._run_task(message)
        elif kind == "check":
            if not ex.checks:
                stats.push("check_ignored")
                return
            passed = self.fleet.rng.random() >= ex.check_failure_rate
            await self._write(pb.AgentMessage(check_result=pb.CheckResult(
                check_id=message.check_id, passed=passed, detail="ok" if passed else "simulated failure")))
            stats.push("check")
        elif kind == "inventory_request":
            if not ex.inventory:
                stats.push("inventory_ignored")
                return
            await grpc_pushes.submit_inventory(await self._stub(), message.request_id,
                                               self.token or "", self.fleet.rng, stats)
        elif kind == "terminal_request":
            if not ex.terminal:
                stats.push("terminal_ignored")
                return
            await grpc_pushes.run_terminal(await self._stub(), message, self.token or "",
                                           self.hostname, stats)
        elif kind == "query":
            if not ex.queries:
                stats.push("query_ignored")
                return
            await self._write(grpc_pushes.query_answer(message))
            stats.push("query")
        else:
            stats.push(kind)

    async def _run_task(self, task: pb.Task) -> None:
        rng = self.fleet.rng
        t0 = time.perf_counter()
        steps = rng.randint(2, 4)
        for i in range(steps):
            await asyncio.sleep(0.02 + 0.1 * rng.random())
            await self._write(pb.AgentMessage(task_progress=pb.TaskProgress(
                task_id=task.task_id, state=pb.TASK_STATE_RUNNING, percent=int(100 * i / steps),
                message=f"step {i + 1} of {steps}")))
        await self._write(pb.AgentMessage(task_progress=pb.TaskProgress(
            task_id=task.task_id, state=pb.TASK_STATE_SUCCEEDED, percent=100, message="done")))
        self.stats.task_duration.append(time.perf_counter() - t0)
        self.stats.push("task")

    async def close(self) -> None:
        """End the stream cleanly: finish the pushes being answered, half-close,
        let the server finish the stream, then finish the pushes it sent last."""
        call, lock, reader = self._call, self._lock, self._reader
        if call is None:
            return
        try:
            await self._pushes_answered(CLOSE_TIMEOUT)
            self._call = None
            if lock is not None:
                async with lock:
                    await call.done_writing()
            if reader is not None:
                await asyncio.wait_for(asyncio.shield(reader), timeout=CLOSE_TIMEOUT)
            await self._pushes_answered(CLOSE_TIMEOUT)
        except (TimeoutError, grpc.aio.AioRpcError, grpc.aio.UsageError, grpc.aio.InternalError,
                RuntimeError):
            pass
        finally:
            call.cancel()
            if reader is not None and not reader.done():
                reader.cancel()
