"""The gRPC agents' channels.

Without client identities the agents of a worker share channels: agent k of
the worker uses channel k // ``--conn-fanout`` (one HTTP/2 connection each,
the streams multiplexed). With identities (``Fleet.identities``) every agent
has its own channel carrying its own client certificate, since TLS presents
one certificate per connection.

A secure channel's first connection (TCP connect and TLS handshake) is timed
into ``fleet_tls_handshake``. A channel that never got through it fails its
calls with ``UNAVAILABLE``; :meth:`Channels.failure` turns that into a
"TLS handshake failed" reason.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

import grpc
import grpc.aio

from fleetload.errors import ConfigError
from fleetload.fleet.client_identity import IdentitySource
from fleetload.fleet.metrics import FleetStats
from fleetproto import ingest_pb2_grpc as pb_grpc

CHANNEL_OPTIONS = [
    # Distinct connections per channel (the default global pool would put every
    # channel to the same target on one connection).
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 1000),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 10000),
    ("grpc.enable_retries", 0),
    ("grpc.keepalive_time_ms", 60000),
]
_SECURE_SCHEMES = ("grpcs://", "https://")
_CONNECTING = (grpc.ChannelConnectivity.IDLE, grpc.ChannelConnectivity.CONNECTING)
# "UNAVAILABLE: ipv4:127.0.0.1:9443: Socket closed" -> "Socket closed"
_LAST_ERROR_PREFIX = re.compile(r"^(?:[A-Z_]+: )?(?:ipv[46]:\S+?: )?")


def split_target(target: str) -> tuple[str, bool]:
    """``grpcs://HOST:PORT`` (or ``https://``) → (HOST:PORT, True); a bare
    ``HOST:PORT`` or ``grpc://`` / ``http://`` → insecure."""
    secure = target.startswith(_SECURE_SCHEMES)
    if "://" in target:
        target = target.split("://", 1)[1].rstrip("/")
    return target, secure


@dataclass(slots=True)
class _Channel:
    channel: grpc.aio.Channel
    stub: pb_grpc.AgentIngestStub
    connecting: asyncio.Task[bool] | None = None
    """The first connection of a secure channel: True once through the handshake."""


class Channels:
    """One worker's channels to the AgentIngest service."""

    def __init__(self, target: str, fanout: int, stats: FleetStats, *, ca_file: str | None = None,
                 identities: IdentitySource | None = None, connect_timeout: float = 10.0) -> None:
        self.address, self.secure = split_target(target)
        if identities is not None and not self.secure:
            raise ConfigError("client identities need TLS on the gRPC port: "
                              f"--grpc-target grpcs://{self.address}")
        self.fanout = fanout
        self.stats = stats
        self.identities = identities
        self.connect_timeout = connect_timeout
        self.root: bytes | None = None
        if self.secure and ca_file:
            try:
                with open(ca_file, "rb") as f:
                    self.root = f.read()
            except OSError as e:
                raise ConfigError(f"--ca-cert {ca_file}: {e.strerror or e}") from None
        self._channels: dict[int, _Channel] = {}

    def _key(self, local_index: int) -> int:
        return local_index if self.identities is not None else local_index // self.fanout

    def _open(self, index: int, hostname: str) -> _Channel:
        if not self.secure:
            ch = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        else:
            if self.identities is not None:
                who = self.identities.identity(index, hostname)
                creds = grpc.ssl_channel_credentials(self.root, private_key=who.key_pem,
                                                     certificate_chain=who.cert_pem)
            else:
                creds = grpc.ssl_channel_credentials(self.root)
            ch = grpc.aio.secure_channel(self.address, creds, options=CHANNEL_OPTIONS)
        stub = pb_grpc.AgentIngestStub(ch)  # type: ignore[no-untyped-call]
        entry = _Channel(ch, stub)
        if self.secure:
            entry.connecting = asyncio.get_running_loop().create_task(self._first_connect(ch))
        return entry

    async def _first_connect(self, ch: grpc.aio.Channel) -> bool:
        t0 = time.perf_counter()
        deadline = t0 + self.connect_timeout
        state = ch.get_state(try_to_connect=True)
        while state in _CONNECTING:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(ch.wait_for_state_change(state), timeout=left)
            except TimeoutError:
                return False
            state = ch.get_state()
        if state == grpc.ChannelConnectivity.READY:
            self.stats.tls_handshake.append(time.perf_counter() - t0)
            return True
        return False

    async def stub(self, local_index: int, index: int, hostname: str) -> pb_grpc.AgentIngestStub:
        """The stub of agent ``index`` (``local_index`` in this worker); waits
        for a secure channel's first connection."""
        key = self._key(local_index)
        entry = self._channels.get(key)
        if entry is None:
            entry = self._channels[key] = self._open(index, hostname)
        if entry.connecting is not None:
            await asyncio.shield(entry.connecting)
        return entry.stub

    def failure(self, local_index: int, text: str) -> str:
        """The reason for a call that failed ``UNAVAILABLE`` with ``text``: a
        TLS handshake failure when the agent's secure channel never connected."""
        entry = self._channels.get(self._key(local_index))
        first = entry.connecting if entry is not None else None
        if first is None or not first.done() or first.cancelled() or first.result():
            return text
        last = _LAST_ERROR_PREFIX.sub("", text.rsplit("last error: ", 1)[-1])
        if "refused" in last or "unreachable" in last.lower():
            return f"connect to {self.address} failed: {last}"
        hint = ""
        if last == "Socket closed":  # what a TLS 1.3 client sees of a refused certificate
            hint = (" (a client certificate may be required)" if self.identities is None
                    else " (the client certificate may be refused)")
        return f"TLS handshake with {self.address} failed: {last}{hint}"

    async def close(self) -> None:
        entries = list(self._channels.values())
        self._channels.clear()
        for e in entries:
            if e.connecting is not None:
                e.connecting.cancel()
        await asyncio.gather(*(e.channel.close(grace=None) for e in entries), return_exceptions=True)
