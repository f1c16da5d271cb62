"""The reference target's gRPC agent ingest on ``grpc.aio``.

``Register``, then a bidirectional ``Heartbeat`` stream (first message ``hello``
with the agent token; each heartbeat is acked with its ``seq``, which gives the
round trip) that stays open; pushed tasks, checks and inventory requests are
answered on the stream and through ``SubmitInventory``. ``--conn-fanout`` agents
share one channel (one HTTP/2 connection): the streams of a channel are
multiplexed, so sockets are agents / fanout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

import grpc
import grpc.aio

from fleetload.errors import ConfigError
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
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc

DEFAULT_GRPC_PORT = 9443
CHUNK = 500
OPEN_TIMEOUT = 10.0
_CHANNEL_OPTIONS = [
    # Distinct connections per channel (the default global pool would put every
    # channel to the same target on one connection).
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 1000),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 10000),
    ("grpc.enable_retries", 0),
    ("grpc.keepalive_time_ms", 60000),
]
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
              grpc.StatusCode.CANCELLED}

_PACKAGES: list[pb.Package] = []


def fake_packages() -> list[pb.Package]:
    """3000 fake packages, built once per process and shared by every inventory."""
    if not _PACKAGES:
        arches = ("amd64", "arm64", "all")
        _PACKAGES.extend(pb.Package(name=f"pkg-{i:05d}", version=f"{1 + i % 7}.{i % 13}.{i % 5}",
                                    arch=arches[i % 3]) for i in range(3000))
    return _PACKAGES


def _err(e: grpc.aio.AioRpcError) -> str:
    code = e.code()
    return f"{code.name if code else 'UNKNOWN'}: {(e.details() or '')[:120]}"


async def derive_grpc_target(ctx: FleetLike) -> str:
    """``--grpc-target`` if given; else what the target advertises in ``GET
    /version`` (``grpc``/``grpc_target``); else the --target host on port 9443."""
    if ctx.grpc_target:
        return ctx.grpc_target
    base = ctx.rt.client._base  # the run's --target
    if not base:
        raise ConfigError("the gRPC fleet needs --grpc-target HOST:PORT (or --target URL)")
    resp = await ctx.rt.client.request("GET", base.rstrip("/") + "/version", timeout=5.0)
    if resp.status == 200:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("grpc_target", "grpc"):
                if isinstance(data.get(key), str) and data[key]:
                    return str(data[key])
    host = urlsplit(base).hostname or "127.0.0.1"
    return f"{host}:{DEFAULT_GRPC_PORT}"


class Channels:
    """The worker's channels: agent k of the worker uses channel k // fanout."""

    def __init__(self, target: str, fanout: int, ca_file: str | None = None) -> None:
        self.target = target
        self.fanout = fanout
        self.ca_file = ca_file
        self.channels: dict[int, grpc.aio.Channel] = {}
        self.stubs: dict[int, pb_grpc.AgentIngestStub] = {}

    def stub(self, local_index: int) -> pb_grpc.AgentIngestStub:
        k = local_index // self.fanout
        stub = self.stubs.get(k)
        if stub is None:
            target = self.target
            secure = target.startswith(("grpcs://", "https://"))
            if "://" in target:
                target = target.split("://", 1)[1].rstrip("/")
            if secure:
                root = None
                if self.ca_file:
                    with open(self.ca_file, "rb") as f:
                        root = f.read()
                ch = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root),
                                             options=_CHANNEL_OPTIONS)
            else:
                ch = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            self.channels[k] = ch
            stub = self.stubs[k] = pb_grpc.AgentIngestStub(ch)  # type: ignore[no-untyped-call]
        return stub

    async def close(self) -> None:
        chans = list(self.channels.values())
        self.channels.clear()
        self.stubs.clear()
        await asyncio.gather(*(c.close(grace=None) for c in chans), return_exceptions=True)


class GrpcAgent(Agent):
    """An agent on the AgentIngest service (fleetproto)."""

    __slots__ = ("_ack_waiter", "_call", "_lock", "_reader", "_sent_at", "_sent_seq")
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

    # -- per-worker setup --------------------------------------------------------------
    @staticmethod
    async def setup_fleet(ctx: FleetLike) -> None:
        target = await derive_grpc_target(ctx)
        ctx.shared["channels"] = Channels(target, ctx.ex.conn_fanout,
                                          getattr(ctx.rt.client, "_ca_file", None))
        if not ctx.token:
            raise ConfigError("the gRPC fleet needs a registration token: --token KEY")

    @staticmethod
    def sockets_needed(ctx: FleetLike) -> int:
        return (ctx.hi - ctx.lo) // max(1, ctx.ex.conn_fanout) + 64

    @staticmethod
    async def teardown_fleet(ctx: FleetLike) -> None:
        channels = ctx.shared.pop("channels", None)
        if channels is not None:
            await channels.close()

    @property
    def _stub(self) -> pb_grpc.AgentIngestStub:
        channels: Channels = self.fleet.shared["channels"]
        return channels.stub(self.index - self.fleet.lo)

    # -- lifecycle -----------------------------------------------------------------------
    async def register(self) -> str:
        fleet = self.fleet
        req = pb.RegisterRequest(hostname=self.hostname, public_key=self.ensure_keys(),
                                 labels={"run_id": fleet.run_id, "fleetload": "agent"},
                                 token=fleet.token or "", os="linux", architecture="amd64",
                                 version=AGENT_VERSION)
        self.stats.sent(req.ByteSize())
        try:
            resp = await self._stub.Register(req, timeout=float(fleet.ex.registration_timeout))
        except grpc.aio.AioRpcError as e:
            code = e.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise RegistrationTimeout(_err(e)) from None
            if code in _RETRYABLE:
                raise ConnectionError(_err(e)) from None
            raise Rejected(_err(e)) from None
        self.agent_id = resp.agent_id
        self.token = resp.agent_token
        return "pending" if resp.status == pb.REGISTRATION_STATUS_PENDING else "active"

    async def open(self) -> None:
        """Open the stream, say hello, and confirm it with one acked heartbeat."""
        loop = asyncio.get_running_loop()
        call = self._stub.Heartbeat()
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
                raise Disconnected(_err(exc)) from None
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
            reason = f"stream: {_err(e)}"
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
                elif code == grpc.StatusCode.PERMISSION_DENIED:
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
        try:
            await self.on_push(kind, message)
        except Disconnected:
            pass  # the reader sees the stream end and reconnects
        except grpc.aio.AioRpcError as e:
            self.stats.error(f"{kind}: {_err(e)}")

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
            await self._submit_inventory(message.request_id)
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

    async def _submit_inventory(self, request_id: str) -> None:
        packages = fake_packages()
        count = CHUNK * self.fleet.rng.randint(2, 6)
        call = self._stub.SubmitInventory(timeout=30.0)
        for i in range(0, count, CHUNK):
            chunk = pb.InventoryChunk(request_id=request_id, packages=packages[i:i + CHUNK])
            if i == 0:
                chunk.agent_token = self.token or ""
            await call.write(chunk)
            self.stats.sent(chunk.ByteSize())
        await call.done_writing()
        await call
        self.stats.push("inventory")

    async def close(self) -> None:
        """End the stream cleanly: half-close, then let the server finish it."""
        call, lock, reader = self._call, self._lock, self._reader
        self._call = None
        if call is None:
            return
        try:
            if lock is not None:
                async with lock:
                    await call.done_writing()
            if reader is not None:
                await asyncio.wait_for(asyncio.shield(reader), timeout=5.0)
        except (TimeoutError, grpc.aio.AioRpcError, grpc.aio.UsageError, grpc.aio.InternalError,
                RuntimeError):
            pass
        finally:
            call.cancel()
            if reader is not None and not reader.done():
                reader.cancel()
