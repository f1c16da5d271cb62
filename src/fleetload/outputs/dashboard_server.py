"""The live dashboard's HTTP server: three routes on an asyncio loop of its
own (standard library only, so a run with a dashboard imports no web
framework): ``GET /`` the page, ``GET /events`` the run's numbers as
Server-Sent Events (one event per interval), ``POST /stop`` the stop button,
which needs the page's token so that no other web page can end a run.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable

from fleetload.outputs.dashboard_app import page
from fleetload.outputs.dashboard_state import DashboardState

WAKE_TIMEOUT = 1.0  # seconds an event stream waits for news before it looks again
MAX_HEADER_LINES = 100
MAX_BODY = 65536
IDLE_TIMEOUT = 60.0  # seconds a kept-alive connection may wait for its next request

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Content Too Large"}


def listen(host: str, port: int) -> socket.socket:
    """A listening socket (OSError when the address cannot be had)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _response(status: int, content_type: str, body: bytes, *, close: bool) -> bytes:
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-cache\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    return head.encode("latin-1") + body


def _json(status: int, data: object, *, close: bool) -> bytes:
    return _response(status, "application/json", json.dumps(data).encode(), close=close)


class DashboardServer:
    """Serves ``state`` on ``sock`` until :meth:`stop` (from any thread)."""

    def __init__(self, state: DashboardState, sock: socket.socket) -> None:
        self.state = state
        self.sock = sock
        self.started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tick: asyncio.Future[None] | None = None  # resolved at the next news

    def run(self) -> None:
        asyncio.run(self._serve())

    def notify(self) -> None:
        """The state has news (a new interval, the end): wake the event
        streams (from any thread)."""
        self._call(self._wake)

    def stop(self) -> None:
        if self._stopping is not None:
            self._call(self._stopping.set)

    def _call(self, fn: Callable[[], object]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop has just closed
                pass

    def _wake(self) -> None:
        tick = self._tick
        self._tick = asyncio.get_running_loop().create_future()
        if tick is not None and not tick.done():
            tick.set_result(None)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._tick = self._loop.create_future()
        server = await asyncio.start_server(self._client, sock=self.sock)
        self.started.set()
        async with server:
            await self._stopping.wait()
            self._wake()
            for writer in list(self._writers):  # kept-alive connections end too
                writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, UnicodeDecodeError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open for another."""
        line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            raw = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            parts = []
        if len(parts) != 3:
            writer.write(_json(400, {"error": "bad request"}, close=True))
            await writer.drain()
            return False
        method, target, version = parts
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            writer.write(_json(413, {"error": "body too large"}, close=True))
            await writer.drain()
            return False
        if length:
            await reader.readexactly(length)
        close = version != "HTTP/1.1" or headers.get("connection", "").lower() == "close"
        path = target.split("?", 1)[0]
        if path == "/events" and method == "GET":
            await self._events(writer)
            return False
        if path == "/" and method == "GET":
            reply = _response(200, "text/html; charset=utf-8", page(self.state).encode(),
                              close=close)
        elif path == "/stop" and method == "POST":
            if headers.get("x-fleetload-token") != self.state.token:
                reply = _json(403, {"error": "the dashboard page's token is required"},
                              close=close)
            else:
                self.state.request_stop("stopped from the dashboard")
                reply = _json(200, {"stopping": True}, close=close)
        elif path in ("/", "/events", "/stop"):
            reply = _json(405, {"error": f"{method} not allowed"}, close=close)
        else:
            reply = _json(404, {"error": "not found"}, close=close)
        writer.write(reply)
        await writer.drain()
        return not close

    async def _events(self, writer: asyncio.StreamWriter) -> None:
        """One event per interval until the run finishes (or the page goes)."""
        state = self.state
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
        await writer.drain()
        seen = 0  # nothing to show before the first interval
        state.clients += 1
        try:
            while not state.closed:
                if state.version != seen:
                    seen, text, finished = state.event()
                    writer.write(f"data: {text}\n\n".encode())
                    await writer.drain()
                    state.delivered = max(state.delivered, seen)
                    if finished:
                        return
                assert self._tick is not None
                try:
                    await asyncio.wait_for(asyncio.shield(self._tick), WAKE_TIMEOUT)
                except TimeoutError:
                    pass
        finally:
            state.clients -= 1
