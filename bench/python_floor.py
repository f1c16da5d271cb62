#!/usr/bin/env python3
"""The Python floor: the least a Python HTTP/1.1 load generator can do per request.

A reference for ``bench/engine_peers.py``: what *any* Python generator can reach on
this machine. uvloop, one bare ``asyncio.Protocol`` per keep-alive connection,
responses parsed by httptools, one pre-encoded GET written again and again. No
metrics machinery (no histograms, tags, thresholds or summaries), no coroutine or
task per request, no checks beyond the status code: a request costs a socket write,
a read, a parse and a few float appends. What a real generator spends above this is
its own overhead.

* closed loop (``--connections N``): N connections, each re-sends as soon as its
  response is complete, until ``--duration`` ends;
* ``--style task`` (closed loop only): the same connections, but each is driven
  by an asyncio Task looping ``await iteration()``, a coroutine awaiting a
  ``get()`` coroutine that awaits a Future the protocol resolves: the least a
  generator with a Python coroutine per iteration (a scenario function calling
  a client) can cost, still without metrics;
* open loop (``--rate R``): iteration n is due at start + n/R; a scheduler sleeps
  until the next one is due (at least 1 ms: uvloop timers have 1 ms resolution) and
  writes every iteration due by then on an idle connection (LIFO), opens a new one
  while fewer than ``--max-in-flight`` exist, else counts it as dropped.

Measured: latency from the write to the complete response (p50/p99); in open loop
also the send lag (write time minus scheduled time) and the latency from the
scheduled time (free of coordinated omission). Output: one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from array import array
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import uvloop

now = time.perf_counter


class Conn(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time."""

    transport: asyncio.Transport

    def __init__(self, floor: Floor, sched: float | None) -> None:
        self.f = floor
        self.sched = sched  # scheduled time of the current request (open loop)
        self.t_write = 0.0
        self.busy = False
        self.waiter: asyncio.Future[None] | None = None  # --style task
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.f.conns.add(self)
        if not self.f.tasks_drive:
            self.send(self.sched)

    def request(self) -> asyncio.Future[None]:
        """--style task: send, and a Future resolved when the response is complete."""
        fut = self.waiter = self.f.loop.create_future()
        self.send(None)
        return fut

    def send(self, sched: float | None) -> None:
        self.sched, self.busy = sched, True
        self.f.in_flight += 1
        self.t_write = t = now()
        if sched is not None:
            self.f.lag.append(t - sched)
        self.transport.write(self.f.request)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.lose()
            self.transport.close()

    def on_message_complete(self) -> None:  # httptools callback
        f, t = self.f, now()
        f.lat.append(t - self.t_write)
        if self.sched is not None:
            f.lat_sched.append(t - self.sched)
        self.busy = False
        f.in_flight -= 1
        f.completed += 1
        f.last_done = t
        if self.parser.get_status_code() >= 400:
            f.errors += 1
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set_result(None)
        if not self.parser.should_keep_alive():
            self.transport.close()  # connection_lost replaces it in closed loop
        elif waiter is not None:
            pass  # the driving task sends the next request
        elif f.open_loop:
            f.idle.append(self)
        elif not f.stopping:
            self.send(None)

    def lose(self) -> None:
        """The current request, if any, will never complete: an error."""
        if self.busy:
            self.busy = False
            self.f.in_flight -= 1
            self.f.errors += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))
            self.waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        f = self.f
        self.lose()
        f.conns.discard(self)
        if self in f.idle:
            f.idle.remove(self)
        if not f.open_loop and not f.stopping and not f.tasks_drive:  # keep N connections
            f.loop.call_later(0.01 if exc else 0.0, f.connect, None)


class Floor:
    def __init__(self, host: str, port: int, request: bytes, open_loop: bool,
                 max_conns: int, tasks_drive: bool = False) -> None:
        self.loop = asyncio.get_running_loop()
        self.tasks_drive = tasks_drive
        self.host, self.port, self.request = host, port, request
        self.open_loop, self.max_conns = open_loop, max_conns
        self.stopping = False
        self.conns: set[Conn] = set()
        self.idle: list[Conn] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.connecting = self.opened = self.in_flight = 0
        self.completed = self.errors = self.dropped = 0
        self.last_done = 0.0
        self.lat = array("d")  # write -> complete response, s
        self.lag = array("d")  # write - scheduled, s (open loop)
        self.lat_sched = array("d")  # scheduled -> complete response, s (open loop)

    def connect(self, sched: float | None) -> None:
        """Open a connection; its first request (scheduled at sched) goes out on connect."""
        if self.stopping:
            return
        self.connecting += 1
        self.opened += 1
        coro = self.loop.create_connection(lambda: Conn(self, sched), self.host, self.port)
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self.connecting -= 1
        if task.cancelled() or task.exception() is not None:
            self.errors += 1  # refused, or still connecting at the end
            if not self.open_loop and not self.stopping:
                self.loop.call_later(0.01, self.connect, None)

    def launch(self, sched: float) -> None:
        if self.idle:
            self.idle.pop().send(sched)
        elif len(self.conns) + self.connecting < self.max_conns:
            self.connect(sched)
        else:
            self.dropped += 1


async def get(c: Conn) -> None:
    """What a client call is: a coroutine around the request's Future."""
    await c.request()


async def iteration(c: Conn) -> None:
    """What a scenario function is: a coroutine calling the client."""
    await get(c)


async def drive(f: Floor, c: Conn) -> None:
    while not f.stopping:
        try:
            await iteration(c)
        except ConnectionError:
            return


async def run_tasks(f: Floor, connections: int, duration: float) -> list[asyncio.Task[None]]:
    conns = []
    for _ in range(connections):
        f.opened += 1
        _, proto = await f.loop.create_connection(lambda: Conn(f, None), f.host, f.port)
        conns.append(proto)
    tasks = [f.loop.create_task(drive(f, c)) for c in conns]
    await asyncio.sleep(duration)
    return tasks


async def schedule(f: Floor, rate: float, start: float, duration: float) -> None:
    total = math.ceil(duration * rate)  # iterations due before the end
    n = 0
    while n < total:
        due = min(total, int((now() - start) * rate) + 1)  # iterations due by now
        while n < due:
            f.launch(start + n / rate)
            n += 1
        await asyncio.sleep(max(start + n / rate - now(), 0.001))


def pcts(samples: array[float], *qs: float) -> list[float | None]:
    """Exact (nearest-rank) percentiles in ms."""
    s = sorted(samples)
    return [round(s[max(0, math.ceil(q * len(s)) - 1)] * 1e3, 4) if s else None for q in qs]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    u = urlsplit(args.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"User-Agent: python-floor\r\n\r\n").encode()
    open_loop = args.rate is not None
    tasks_drive = args.style == "task"
    f = Floor(host, port, request, open_loop,
              args.max_in_flight if open_loop else args.connections, tasks_drive)
    start = now()
    drivers: list[asyncio.Task[None]] = []
    if open_loop:
        await schedule(f, args.rate, start, args.duration)
    elif tasks_drive:
        drivers = await run_tasks(f, args.connections, args.duration)
    else:
        for _ in range(args.connections):
            f.connect(None)
        await asyncio.sleep(args.duration)
    f.stopping = True
    t_stop = now()
    while (f.in_flight or f.connecting) and now() < t_stop + 1.0:  # drain, at most 1 s
        await asyncio.sleep(0.005)
    for task in [*f.tasks, *drivers]:
        task.cancel()
    for c in list(f.conns):
        c.transport.close()
    await asyncio.sleep(0.01)  # let connection_lost / done callbacks run
    elapsed = max(t_stop, f.last_done) - start
    p50, p99 = pcts(f.lat, 0.50, 0.99)
    (lag_p99,) = pcts(f.lag, 0.99) if open_loop else (None,)
    (lat_p99,) = pcts(f.lat_sched, 0.99) if open_loop else (None,)
    return {"requests": f.completed, "rps": round(f.completed / elapsed, 1),
            "errors": f.errors, "dropped": f.dropped, "connections": f.opened,
            "p50_ms": p50, "p99_ms": p99, "lag_p99_ms": lag_p99, "lat_p99_ms": lat_p99}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="http://host:port/path (loopback)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--connections", type=int, help="closed loop: keep-alive connections")
    mode.add_argument("--rate", type=float, help="open loop: requests per second")
    ap.add_argument("--max-in-flight", type=int, default=1000,
                    help="open loop: max connections (one request in flight each)")
    ap.add_argument("--style", choices=["callback", "task"], default="callback",
                    help="closed loop: re-send from the protocol callback (the floor) or "
                         "from a Task per connection, a coroutine per iteration")
    args = ap.parse_args()
    if args.style == "task" and args.rate is not None:
        ap.error("--style task is closed loop only (--connections)")
    if urlsplit(args.url).scheme != "http":
        ap.error("only http:// URLs")
    print(json.dumps(uvloop.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
