"""TLS: verification on by default, insecure=True, ca_file=, hostname checks."""

from __future__ import annotations

from httpsrv import ThreadedServer, run

from fleetload.protocols.http import ErrorClass, HttpClient, Response


def _get(url: str, n: int = 1, **client_kw) -> list[Response]:
    async def go() -> list[Response]:
        async with HttpClient(**client_kw) as c:
            return [await c.get(url) for _ in range(n)]
    return run(go())


def test_verification_on_by_default(tls_server: ThreadedServer) -> None:
    (r,) = _get(f"https://localhost:{tls_server.port}/")
    assert r.error == ErrorClass.TLS_ERROR and r.status == 0
    assert "verif" in (r.error_detail or "")
    assert r.timings.tls_handshaking > 0 and r.timings.connecting > 0


def test_insecure_skips_verification(tls_server: ThreadedServer) -> None:
    r1, r2 = _get(f"https://127.0.0.1:{tls_server.port}/", n=2, insecure=True)
    assert r1.ok and r1.body == b"hello", r1.error_detail
    assert r1.timings.tls_handshaking > 0 and r1.timings.connecting > 0
    assert r2.ok and r2.timings.tls_handshaking == 0 and r2.timings.connecting == 0
    assert tls_server.state.connections == 1


def test_custom_ca_file(tls_server: ThreadedServer, tls_files) -> None:
    r1, r2 = _get(f"https://localhost:{tls_server.port}/echo", n=2, ca_file=tls_files.ca_file)
    assert r1.ok, r1.error_detail
    assert r2.ok and r2.json()["method"] == "GET"


def test_hostname_mismatch(tls_server: ThreadedServer, tls_files) -> None:
    # the certificate is for DNS:localhost only
    (r,) = _get(f"https://127.0.0.1:{tls_server.port}/", ca_file=tls_files.ca_file)
    assert r.error == ErrorClass.TLS_ERROR
    assert "mismatch" in (r.error_detail or "").lower()


def test_tls_handshake_timeout(http_server: ThreadedServer) -> None:
    # a plain HTTP server waits for a request line and never answers the ClientHello
    (r,) = _get(f"https://127.0.0.1:{http_server.port}/", insecure=True, connect_timeout=0.3)
    assert r.error == ErrorClass.CONNECT_TIMEOUT, r.error_detail
    assert "TLS handshake" in (r.error_detail or "")
    assert r.timings.tls_handshaking >= 0.2


def test_tls_large_bodies_and_chunked(tls_server: ThreadedServer) -> None:
    async def go() -> list[Response]:
        async with HttpClient(insecure=True,
                              base_url=f"https://127.0.0.1:{tls_server.port}") as c:
            return [await c.get("/big"), await c.get("/bigchunked"),
                    await c.post("/echo", body=b"q" * 300_000), await c.head("/")]
    big, chunked, echo, head = run(go())
    assert big.ok and len(big.body) == 1 << 20
    assert chunked.ok and len(chunked.body) == 1_000_000
    assert echo.ok and len(echo.json()["body"]) == 300_000
    assert head.ok and head.body == b""
