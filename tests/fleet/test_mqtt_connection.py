"""The MQTT connection against a scripted broker on loopback, for what
Mosquitto 2.0 never sends: an MQTT 5 DISCONNECT with a reason code, a CONNACK
refusal code of MQTT 5, a broker that stops answering PINGREQ."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from fleetload.protocols.mqtt import codec as c
from fleetload.protocols.mqtt.connection import Refused, open_connection


class Recorder:
    def __init__(self) -> None:
        self.lost: list[tuple[str, int]] = []
        self.acked: list[float] = []
        self.done = asyncio.Event()

    def on_message(self, topic: bytes, payload: bytes) -> None:
        pass

    def on_acked(self, latency: float) -> None:
        self.acked.append(latency)

    def on_lost(self, reason: str, unacked: int) -> None:
        self.lost.append((reason, unacked))
        self.done.set()


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(script: Script) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_packet(reader: asyncio.StreamReader) -> int:
    first = (await reader.readexactly(2))
    length = first[1]
    await reader.readexactly(length)
    return first[0] >> 4


def test_mqtt5_disconnect_reason_and_unacked_publishes() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await read_packet(reader) == c.CONNECT
        writer.write(b"\x20\x03\x00\x00\x00")  # CONNACK v5: accepted, no properties
        assert await read_packet(reader) == c.PUBLISH  # QoS 1, never acknowledged
        writer.write(b"\xe0\x02\x8e\x00")  # DISCONNECT: session taken over
        await writer.drain()
        writer.close()

    async def main() -> Recorder:
        server, port = await serve(script)
        rec = Recorder()
        async with server:
            conn, present = await open_connection(
                rec, "127.0.0.1", port, c.ConnectOptions("d", version=5), tls=None, timeout=5)
            assert present is False
            conn.publish(b"t", b"x", 1)
            await asyncio.wait_for(rec.done.wait(), 5)
        return rec

    rec = asyncio.run(main())
    assert rec.lost == [("disconnected by the broker: session taken over", 1)]
    assert rec.acked == []


def test_mqtt5_connack_refusal_code() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packet(reader)
        writer.write(b"\x20\x03\x00\x86\x00")  # bad username or password
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, port = await serve(script)
        async with server:
            await open_connection(Recorder(), "127.0.0.1", port,
                                  c.ConnectOptions("d", version=5, username="u", password="p"),
                                  tls=None, timeout=5)

    with pytest.raises(Refused, match="connection refused: bad username or password"):
        asyncio.run(main())


def test_keepalive_timeout_when_the_broker_stops_answering() -> None:
    pings = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packet(reader)
        writer.write(b"\x20\x02\x00\x00")  # CONNACK 3.1.1
        while True:  # swallow PINGREQs, never answer
            try:
                pings.append(await read_packet(reader))
            except asyncio.IncompleteReadError:
                return

    async def main() -> Recorder:
        server, port = await serve(script)
        rec = Recorder()
        async with server:
            conn, _ = await open_connection(rec, "127.0.0.1", port,
                                            c.ConnectOptions("d", keepalive=1), tls=None,
                                            timeout=5)
            conn.start_keepalive(0.5)
            await asyncio.wait_for(rec.done.wait(), 5)
        return rec

    rec = asyncio.run(main())
    assert rec.lost == [("keep-alive timeout: no PINGRESP from the broker", 0)]
    assert pings and set(pings) == {c.PINGREQ}
