"""A small HTTP/1.1 server for engine tests, run in its own process.

Routes: /ok, /delay?ms=N, /status/NNN, /stall (never answers), /echo,
/stats (JSON request counts per path), /reset (RST), /garbage.
Prints ``PORT <n>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
from collections import Counter
from urllib.parse import parse_qs, urlsplit

COUNTS: Counter[str] = Counter()


class Handler(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                return
            body, self.buf = rest[:length], rest[length:]
            asyncio.get_running_loop().create_task(self.handle(method, target, body))

    async def handle(self, method: str, target: str, body: bytes) -> None:
        parts = urlsplit(target)
        path = parts.path
        COUNTS[path] += 1
        t = self.transport
        assert t is not None
        if path == "/stall":
            return
        if path == "/reset":
            sock = t.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            t.abort()
            return
        if path == "/garbage":
            t.write(b"HELLO WORLD\r\n\r\n")
            t.close()
            return
        status, payload = 200, b"ok"
        if path == "/delay":
            ms = float(parse_qs(parts.query).get("ms", ["0"])[0])
            await asyncio.sleep(ms / 1000.0)
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
        elif path == "/echo":
            payload = body
        elif path == "/stats":
            payload = json.dumps(dict(COUNTS)).encode()
        if t.is_closing():
            return
        t.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s"
                % (status, len(payload), payload))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Handler, "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    try:
        asyncio.run(main(args.port))
    except KeyboardInterrupt:
        sys.exit(0)
