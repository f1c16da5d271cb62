"""Keep-alive pool behaviour, limits, keep_alive=False and timings."""

from __future__ import annotations

import asyncio

from httpsrv import ThreadedServer, run

from fleetload.protocols.http import HttpClient, Response


def test_keep_alive_reuse_and_timings(http_server: ThreadedServer) -> None:
    async def go() -> tuple[list[Response], int]:
        async with HttpClient() as c:
            rs = [await c.get(f"http://127.0.0.1:{http_server.port}/") for _ in range(5)]
            return rs, c.open_connections
    rs, n = run(go())
    assert n == 1 and http_server.state.connections == 1
    first, *rest = rs
    assert first.timings.connecting > 0
    for r in rs:
        t = r.timings
        assert r.ok
        for v in (t.blocked, t.connecting, t.tls_handshaking, t.sending, t.waiting,
                  t.receiving, t.duration):
            assert v >= 0
        assert abs(t.duration - (t.sending + t.waiting + t.receiving)) < 1e-9
        assert t.started < t.finished
        assert t.finished - t.started >= t.duration
        assert t.tls_handshaking == 0
    for r in rest:
        assert r.timings.connecting == 0 and r.timings.blocked == 0


def test_waiting_reflects_server_time(http_server: ThreadedServer) -> None:
    async def go() -> Response:
        async with HttpClient() as c:
            return await c.get(f"http://127.0.0.1:{http_server.port}/slow?s=0.1")
    r = run(go())
    assert r.ok and 0.09 <= r.timings.waiting < 0.5 and r.timings.duration >= 0.09


def test_max_connections_blocks_and_reports_blocked(http_server: ThreadedServer) -> None:
    async def go() -> tuple[list[Response], int]:
        async with HttpClient(max_connections_per_origin=1) as c:
            url = f"http://127.0.0.1:{http_server.port}/slow?s=0.05"
            rs = await asyncio.gather(c.get(url), c.get(url))
            return list(rs), c.open_connections
    rs, n = run(go())
    assert all(r.ok for r in rs) and n == 1
    assert http_server.state.connections == 1
    blocked = sorted(r.timings.blocked for r in rs)
    assert blocked[1] >= 0.04  # the second waited for the first to finish


def test_max_connections_many_tasks(http_server: ThreadedServer) -> None:
    async def go() -> tuple[list[Response], int]:
        async with HttpClient(max_connections_per_origin=3) as c:
            url = f"http://127.0.0.1:{http_server.port}/slow?s=0.01"
            rs = await asyncio.gather(*(c.get(url) for _ in range(30)))
            return list(rs), c.open_connections
    rs, n = run(go())
    assert all(r.ok for r in rs) and n <= 3
    assert http_server.state.connections <= 3


def test_blocked_waiter_total_timeout(http_server: ThreadedServer) -> None:
    async def go() -> list[Response]:
        async with HttpClient(max_connections_per_origin=1) as c:
            slow = c.get(f"http://127.0.0.1:{http_server.port}/slow?s=0.5")
            quick = c.get(f"http://127.0.0.1:{http_server.port}/", timeout=0.1)
            return list(await asyncio.gather(slow, quick))
    slow, quick = run(go())
    assert slow.ok
    assert quick.error == "timeout" and "free connection" in (quick.error_detail or "")
    assert quick.timings.blocked >= 0.09


def test_keep_alive_false_opens_a_connection_per_request(http_server: ThreadedServer) -> None:
    async def go() -> tuple[list[Response], int]:
        async with HttpClient(keep_alive=False) as c:
            rs = [await c.get(f"http://127.0.0.1:{http_server.port}/echo") for _ in range(3)]
            await asyncio.sleep(0)
            return rs, c.open_connections
    rs, n = run(go())
    assert all(r.ok for r in rs) and n == 0
    assert http_server.state.connections == 3
    assert all(r.timings.connecting > 0 for r in rs)
    assert all(dict(r.json()["headers"])["Connection"] == "close" for r in rs)


def test_pool_per_origin(http_server: ThreadedServer, server_factory) -> None:
    from httpsrv import normal_handler
    other = server_factory(normal_handler)

    async def go() -> int:
        async with HttpClient() as c:
            for _ in range(3):
                await c.get(f"http://127.0.0.1:{http_server.port}/")
                await c.get(f"http://localhost:{other.port}/")
            n = c.open_connections
        assert c.open_connections == 0
        return n
    assert run(go()) == 2


def test_concurrent_load_bounded(http_server: ThreadedServer) -> None:
    async def go() -> tuple[int, int]:
        async with HttpClient() as c:
            url = f"http://127.0.0.1:{http_server.port}/"
            ok = 0

            async def worker() -> None:
                nonlocal ok
                for _ in range(50):
                    r = await c.get(url)
                    ok += r.ok
            await asyncio.gather(*(worker() for _ in range(10)))
            return ok, c.open_connections
    ok, n = run(go())
    assert ok == 500 and n == 10


def test_burst_opens_a_bounded_number_of_connections(http_server: ThreadedServer,
                                                     monkeypatch) -> None:
    # 300 requests at once on an empty pool: at most MAX_CONNECTING connects run
    # at a time, the others take connections as they come back (an open-loop
    # burst must not open a connection per arrival).
    from fleetload.protocols.http import pool as pool_mod

    state = {"now": 0, "max": 0}
    real_connect = pool_mod.Pool._connect

    async def counting_connect(self, *args):  # type: ignore[no-untyped-def]
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        try:
            return await real_connect(self, *args)
        finally:
            state["now"] -= 1

    monkeypatch.setattr(pool_mod.Pool, "_connect", counting_connect)

    async def go() -> tuple[list[Response], int]:
        async with HttpClient() as c:
            url = f"http://127.0.0.1:{http_server.port}/"
            rs = await asyncio.gather(*(c.get(url) for _ in range(300)))
            return list(rs), c.open_connections
    rs, n = run(go())
    assert all(r.ok for r in rs)
    assert state["max"] == pool_mod.MAX_CONNECTING
    assert n == http_server.state.connections < 300
    waited = [r for r in rs if r.timings.connecting == 0]
    assert waited and all(r.timings.blocked > 0 for r in waited)


def test_burst_without_keep_alive_connects_for_every_request(http_server: ThreadedServer) -> None:
    async def go() -> list[Response]:
        async with HttpClient(keep_alive=False) as c:
            url = f"http://127.0.0.1:{http_server.port}/"
            return list(await asyncio.gather(*(c.get(url) for _ in range(60))))
    rs = run(go())
    assert all(r.ok for r in rs) and http_server.state.connections == 60
    assert all(r.timings.connecting > 0 for r in rs)
