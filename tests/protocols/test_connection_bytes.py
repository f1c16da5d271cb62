"""The HTTP/1.1 connection driven with bytes and no socket: a fake transport
records what it writes, the test feeds the response in arbitrary chunks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fleetload.protocols.http.connection import Connection
from fleetload.protocols.http.prepared import Prepared


class FakePool:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.keep_alive = True
        self.read_timeout = 30.0
        self.idle: dict[Connection, None] = {}
        self.waiters: list[Any] = []
        self.discarded: list[Connection] = []

    def release(self, conn: Connection) -> None:
        self.idle[conn] = None

    def discard(self, conn: Connection) -> None:
        self.idle.pop(conn, None)
        self.discarded.append(conn)


class FakeTransport:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def set_write_buffer_limits(self, high: int = 0) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.connection_lost(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _drive(chunks: list[bytes], *, method: str = "GET") -> tuple[Any, FakePool, FakeTransport]:
    async def go() -> tuple[Any, FakePool, FakeTransport]:
        pool = FakePool(asyncio.get_running_loop())
        conn = Connection(pool)  # type: ignore[arg-type]
        transport = FakeTransport(conn)
        conn.connection_made(transport)
        request = f"{method} /a HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        prep = Prepared(pool, method, "http://x/a", request, None)  # type: ignore[arg-type]
        fut = conn.send(prep, time.perf_counter(), time.perf_counter() + 30)
        for chunk in chunks:
            conn.data_received(chunk)
        return await asyncio.wait_for(fut, 1.0), pool, transport

    return asyncio.run(go())


def test_a_response_split_byte_by_byte() -> None:
    raw = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-A: b\r\n"
           b"Content-Length: 11\r\n\r\n{\"id\": 42}\n")
    resp, pool, transport = _drive([raw[i:i + 1] for i in range(len(raw))])
    assert transport.written == b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    assert resp.status == 201 and resp.error is None
    assert resp.json() == {"id": 42}
    assert resp.headers["x-a"] == "b"
    assert resp.bytes_received == len(raw)
    assert list(pool.idle) and not transport.closed  # kept alive, back in the pool


def test_a_chunked_body_and_connection_close() -> None:
    resp, pool, transport = _drive([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        b"5\r\nhello\r\n", b"6\r\n world\r\n0\r\n\r\n"])
    assert resp.status == 200 and resp.text == "hello world"
    assert transport.closed and not pool.idle  # Connection: close is honoured


def test_garbage_is_a_malformed_response() -> None:
    resp, _, transport = _drive([b"SPDY/9 what\r\n\r\n"])
    assert resp.status == 0 and resp.error == "malformed_response"
    assert transport.closed


def test_a_head_response_ends_with_its_headers() -> None:
    resp, pool, _ = _drive([b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"], method="HEAD")
    assert resp.status == 200 and resp.body == b""
    assert list(pool.idle)
