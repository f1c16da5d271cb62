"""Small HTTP servers with known capacity, for the ceiling tests.

``python -m tests.capacity.servers [--service-ms 5] [--sticky-s 0]`` prints
``PORT n`` and serves until killed:

* ``GET /work`` (anything but the routes below): served strictly one at a
  time, each taking ``service-ms`` — a fixed service rate of 1000/service-ms
  requests per second, so the ceiling is known in advance;
* ``GET /healthz``: 200; with ``--sticky-s N``, once more than 20 requests
  queue (an overload), it answers 503 for N seconds after the queue drains,
  then 200 but 50 ms slow for another N/2 seconds (a service still recovering);
* ``GET /stats``: JSON counts, and when the last sticky period ended.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

QUEUE_OVERLOAD = 20


class Server:
    def __init__(self, service_s: float, sticky_s: float) -> None:
        self.service_s = service_s
        self.sticky_s = sticky_s
        self.lock = asyncio.Lock()
        self.queued = 0
        self.served = 0
        self.overloaded = False
        self.sick_until = 0.0
        self.slow_until = 0.0
        self.health_503 = 0

    async def work(self) -> None:
        self.queued += 1
        if self.sticky_s and self.queued > QUEUE_OVERLOAD:
            self.overloaded = True
        try:
            async with self.lock:
                await asyncio.sleep(self.service_s)
                self.served += 1
        finally:
            self.queued -= 1
            if self.overloaded and self.queued == 0:
                self.overloaded = False
                now = time.monotonic()
                self.sick_until = now + self.sticky_s
                self.slow_until = self.sick_until + self.sticky_s / 2

    async def health(self) -> tuple[int, bytes]:
        now = time.monotonic()
        if self.overloaded or now < self.sick_until:
            self.health_503 += 1
            return 503, b"recovering"
        if now < self.slow_until:
            await asyncio.sleep(0.05)
        return 200, b"ok"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                path = line.split(" ")[1] if " " in line else "/"
                length = 0
                for h in head.split(b"\r\n")[1:]:
                    if h.lower().startswith(b"content-length:"):
                        length = int(h.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                status, body = 200, b"ok"
                if path.startswith("/healthz"):
                    status, body = await self.health()
                elif path.startswith("/stats"):
                    body = json.dumps({"served": self.served, "health_503": self.health_503,
                                       "sick_until": self.sick_until}).encode()
                else:
                    await self.work()
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s"
                             % (status, len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--service-ms", type=float, default=5.0)
    ap.add_argument("--sticky-s", type=float, default=0.0)
    args = ap.parse_args()
    srv = Server(args.service_ms / 1000.0, args.sticky_s)
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
