"""Failures map to error classes; request() never raises for them."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest
from httpsrv import (
    ThreadedServer,
    garbage_handler,
    idle_close_handler,
    only_first_handler,
    reset_handler,
    run,
    stale_keepalive_handler,
    stall_handler,
)

from fleetload.protocols.http import ErrorClass, HttpClient, Response

Factory = Callable[..., ThreadedServer]


def _one(url: str, **client_kw) -> Response:
    async def go() -> Response:
        async with HttpClient(**client_kw) as c:
            r = await c.get(url)
            assert c.open_connections == 0 or r.error is None
            return r
    return run(go())


def _check_failure(r: Response, error: str) -> None:
    assert r.error == error, (r.error, r.error_detail)
    assert r.error_detail
    assert not r.ok
    t = r.timings
    for phase in ("blocked", "connecting", "tls_handshaking", "sending", "waiting",
                  "receiving", "duration"):
        assert getattr(t, phase) >= 0, phase
    assert t.finished >= t.started > 0


def test_connection_refused(closed_port: int) -> None:
    r = _one(f"http://127.0.0.1:{closed_port}/")
    _check_failure(r, ErrorClass.CONNECTION_REFUSED)
    assert r.status == 0 and r.body == b""


def test_connection_reset(server_factory: Factory) -> None:
    srv = server_factory(reset_handler)
    r = _one(f"http://127.0.0.1:{srv.port}/")
    _check_failure(r, ErrorClass.CONNECTION_RESET)


def test_peer_closed_mid_response_keeps_status(server_factory: Factory,
                                               http_server: ThreadedServer) -> None:
    r = _one(f"http://127.0.0.1:{http_server.port}/partial")
    _check_failure(r, ErrorClass.CONNECTION_RESET)
    assert r.status == 200 and "mid-response" in (r.error_detail or "")
    assert r.bytes_received > 0


def test_read_timeout_precise(server_factory: Factory) -> None:
    srv = server_factory(stall_handler)
    t0 = time.perf_counter()
    r = _one(f"http://127.0.0.1:{srv.port}/", read_timeout=0.3)
    took = time.perf_counter() - t0
    _check_failure(r, ErrorClass.READ_TIMEOUT)
    assert 0.28 <= took < 1.0
    assert r.timings.waiting >= 0.28


def test_read_timeout_via_sweeper(server_factory: Factory) -> None:
    """Timeouts >= 1 s are checked by the ~100 ms sweeper: up to ~0.1 s late."""
    srv = server_factory(stall_handler)
    t0 = time.perf_counter()
    r = _one(f"http://127.0.0.1:{srv.port}/", read_timeout=1.0)
    took = time.perf_counter() - t0
    _check_failure(r, ErrorClass.READ_TIMEOUT)
    assert 1.0 <= took < 1.4


def test_read_timeout_restarts_with_each_chunk(http_server: ThreadedServer) -> None:
    # the body's second half comes 50 ms after the first: a 0.2 s read timeout is fine
    r = _one(f"http://127.0.0.1:{http_server.port}/slowbody", read_timeout=0.2)
    assert r.ok and r.body == b"abcdef"


def test_total_timeout(server_factory: Factory) -> None:
    srv = server_factory(stall_handler)

    async def go() -> Response:
        async with HttpClient(read_timeout=10) as c:
            return await c.get(f"http://127.0.0.1:{srv.port}/", timeout=0.25)
    t0 = time.perf_counter()
    r = run(go())
    assert time.perf_counter() - t0 < 1.0
    _check_failure(r, ErrorClass.TIMEOUT)


def test_connect_timeout() -> None:
    """A listener with a full accept queue drops SYNs, so connect() hangs."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue (never accepted)
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        time.sleep(0.05)
        t0 = time.perf_counter()
        r = _one(f"http://127.0.0.1:{port}/", connect_timeout=0.3)
        took = time.perf_counter() - t0
        if r.error != ErrorClass.CONNECT_TIMEOUT:
            pytest.skip(f"loopback did not drop the SYN (got {r.error}); cannot test connect "
                        "timeouts reliably here")
        _check_failure(r, ErrorClass.CONNECT_TIMEOUT)
        assert 0.28 <= took < 1.0
        assert r.timings.connecting >= 0.28 and r.status == 0
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def test_malformed_response(server_factory: Factory) -> None:
    srv = server_factory(garbage_handler)
    r = _one(f"http://127.0.0.1:{srv.port}/")
    _check_failure(r, ErrorClass.MALFORMED_RESPONSE)


def test_dns_error() -> None:
    r = _one("http://no-such-host.invalid/", connect_timeout=3)
    if r.error == ErrorClass.CONNECT_TIMEOUT:
        pytest.skip("the resolver timed out instead of failing")
    _check_failure(r, ErrorClass.DNS_ERROR)


def test_stale_keepalive_connection_is_retried(server_factory: Factory) -> None:
    srv = server_factory(stale_keepalive_handler)

    async def go() -> tuple[Response, Response, int]:
        async with HttpClient() as c:
            r1 = await c.get(f"http://127.0.0.1:{srv.port}/a")
            r2 = await c.get(f"http://127.0.0.1:{srv.port}/b")  # reused conn closes: retry
            return r1, r2, c.open_connections
    r1, r2, n = run(go())
    assert r1.ok and r2.ok and r2.body == b"first", (r2.error, r2.error_detail)
    assert srv.state.connections == 2
    assert [q.target for q in srv.state.requests] == ["/a", "/b", "/b"]
    assert r2.timings.blocked > 0 and r2.timings.connecting > 0
    assert n == 1


def test_failed_retry_is_reported_as_connection_closed(server_factory: Factory) -> None:
    srv = server_factory(only_first_handler)

    async def go() -> tuple[Response, Response, int]:
        async with HttpClient() as c:
            r1 = await c.get(f"http://127.0.0.1:{srv.port}/")
            r2 = await c.get(f"http://127.0.0.1:{srv.port}/")
            return r1, r2, c.open_connections
    r1, r2, n = run(go())
    assert r1.ok
    _check_failure(r2, ErrorClass.CONNECTION_CLOSED)
    assert srv.state.connections == 2 and n == 0


def test_idle_connection_closed_by_server_is_dropped(server_factory: Factory) -> None:
    srv = server_factory(idle_close_handler)

    async def go() -> tuple[Response, int, Response]:
        async with HttpClient() as c:
            r1 = await c.get(f"http://127.0.0.1:{srv.port}/")
            await asyncio.sleep(0.2)  # the server closes the idle connection meanwhile
            n = c.open_connections
            r2 = await c.get(f"http://127.0.0.1:{srv.port}/")
            return r1, n, r2
    r1, n, r2 = run(go())
    assert r1.ok and r2.ok and n == 0
    assert r2.timings.connecting > 0


def test_cancelled_request_drops_connection(server_factory: Factory) -> None:
    srv = server_factory(stall_handler)

    async def go() -> int:
        async with HttpClient() as c:
            task = asyncio.ensure_future(c.get(f"http://127.0.0.1:{srv.port}/"))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return c.open_connections
    assert run(go()) == 0


def test_close_fails_in_flight_requests(server_factory: Factory) -> None:
    srv = server_factory(stall_handler)

    async def go() -> tuple[Response, int]:
        c = HttpClient()
        task = asyncio.ensure_future(c.get(f"http://127.0.0.1:{srv.port}/"))
        await asyncio.sleep(0.1)
        await c.close()
        return await task, c.open_connections
    r, n = run(go())
    assert r.error == ErrorClass.OTHER and n == 0


def test_error_detail_has_no_secrets(closed_port: int, server_factory: Factory) -> None:
    srv = server_factory(garbage_handler)
    for url in (f"http://user:hunter2@127.0.0.1:{closed_port}/",
                f"http://user:hunter2@127.0.0.1:{srv.port}/"):
        r = _one(url, bearer_token="tok-xyz")
        assert r.error is not None
        text = f"{r!r} {r.error_detail} {r.url}"
        assert "hunter2" not in text and "tok-xyz" not in text
