"""Responses, bodies, request building and URL handling against a real server."""

from __future__ import annotations

import json

import pytest
from httpsrv import ThreadedServer, normal_handler, run

from fleetload.protocols.http import Headers, HttpClient, Response, Timings


def _get(url: str, method: str = "GET", client_kw: dict | None = None, **kw) -> Response:
    async def go() -> Response:
        async with HttpClient(**(client_kw or {})) as c:
            return await c.request(method, url, **kw)
    return run(go())


def test_content_length_response(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/")
    assert r.ok and r.error is None and r.error_detail is None
    assert (r.status, r.reason, r.body, r.text) == (200, "OK", b"hello", "hello")
    assert r.headers["content-type"] == "text/plain"
    assert r.headers.get("Content-Length") == "5"
    assert "CONTENT-TYPE" in r.headers and "x-nope" not in r.headers
    assert r.method == "GET" and r.url == f"http://127.0.0.1:{http_server.port}/"
    assert r.bytes_sent > 0 and r.bytes_received > len(b"hello")
    assert isinstance(r.timings, Timings) and isinstance(r.headers, Headers)


def test_chunked_response_and_charset(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/chunked")
    assert r.ok and r.body == b"h\xe9llo"
    assert r.text == "héllo"  # latin-1 from the content-type
    assert r.timings.receiving > 0  # the second chunk came ~20 ms later


def test_large_bodies(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/big?n={3 << 20}")
    assert r.ok and len(r.body) == 3 << 20 and r.body[:4] == b"\x00\x01\x02\x03"
    assert isinstance(r.body, bytes)
    r = _get(f"http://127.0.0.1:{http_server.port}/bigchunked")
    assert r.ok and r.body == b"x" * 1_000_000


def test_head_and_no_body_statuses(http_server: ThreadedServer) -> None:
    async def go() -> list[Response]:
        async with HttpClient() as c:
            base = f"http://127.0.0.1:{http_server.port}"
            out = [await c.head(f"{base}/"), await c.get(f"{base}/204"),
                   await c.get(f"{base}/304"), await c.head(f"{base}/big"),
                   await c.get(f"{base}/")]
            assert c.open_connections == 1  # all on one keep-alive connection
            return out
    head, r204, r304, head_big, after = run(go())
    assert head.ok and head.body == b"" and head.headers["content-length"] == "5"
    assert r204.status == 204 and r204.body == b"" and r204.headers["x-a"] == "1"
    assert r304.status == 304 and r304.body == b"" and r304.ok
    assert head_big.ok and head_big.body == b""
    assert after.ok and after.body == b"hello"


def test_head_keep_alive_follows_server(http_server: ThreadedServer) -> None:
    async def go() -> list[Response]:
        async with HttpClient(base_url=f"http://127.0.0.1:{http_server.port}") as c:
            return [await c.head("/"), await c.get("/"), await c.head("/close"),
                    await c.get("/")]
    rs = run(go())
    assert all(r.ok for r in rs)
    assert http_server.state.connections == 2  # HEAD kept it; "Connection: close" did not


def test_connection_close_and_eof_body(http_server: ThreadedServer) -> None:
    async def go() -> tuple[Response, Response, int, Response]:
        async with HttpClient() as c:
            base = f"http://127.0.0.1:{http_server.port}"
            r1 = await c.get(f"{base}/close")
            r2 = await c.get(f"{base}/eof")
            n = c.open_connections
            r3 = await c.get(f"{base}/")
            return r1, r2, n, r3
    r1, r2, n, r3 = run(go())
    assert r1.ok and r1.body == b"bye"
    assert r2.ok and r2.body == b"until-eof"
    assert n == 0
    assert r3.ok
    assert http_server.state.connections == 3


def test_interim_1xx_is_skipped(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/interim")
    assert (r.status, r.reason, r.body) == (201, "Created", b"final")
    assert r.headers["x-final"] == "yes" and "link" not in r.headers


def test_multiple_header_values_and_json(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/cookies")
    assert r.headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert r.headers["set-cookie"] == "a=1"
    assert [k for k, _ in r.headers.items()].count("Set-Cookie") == 1
    assert r.json() == {}
    bad = _get(f"http://127.0.0.1:{http_server.port}/badjson")
    with pytest.raises(ValueError):
        bad.json()


def test_text_default_utf8(http_server: ThreadedServer) -> None:
    assert _get(f"http://127.0.0.1:{http_server.port}/utf8").text == "héllo wörld"


def test_request_building(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/echo?a=1", "POST",
             client_kw={"headers": {"X-Default": "d", "X-Over": "client"},
                        "bearer_token": "s3cret", "user_agent": "ua/1"},
             headers={"x-over": "request"}, json={"k": [1, "é"]}, params={"b": 2})
    echo = r.json()
    hdrs = {k.lower(): v for k, v in echo["headers"]}
    assert echo["method"] == "POST"
    assert echo["target"] == "/echo?a=1&b=2"
    assert echo["body"] == '{"k":[1,"é"]}'
    assert hdrs["content-type"] == "application/json"
    assert hdrs["content-length"] == str(len('{"k":[1,"é"]}'.encode()))
    assert hdrs["host"] == f"127.0.0.1:{http_server.port}"
    assert hdrs["user-agent"] == "ua/1"
    assert hdrs["authorization"] == "Bearer s3cret"
    assert hdrs["x-default"] == "d" and hdrs["x-over"] == "request"
    assert echo["headers"][0][0] == "Host"
    assert r.url == f"http://127.0.0.1:{http_server.port}/echo?a=1&b=2"
    assert r.bytes_sent > len('{"k":[1,"é"]}')


def test_str_and_bytes_bodies_and_empty_post(http_server: ThreadedServer) -> None:
    async def go() -> list[dict]:
        async with HttpClient(base_url=f"http://127.0.0.1:{http_server.port}") as c:
            out = []
            for kw in ({"body": "héllo"}, {"body": b"\x00\x01"}, {}):
                out.append((await c.put("/echo", **kw)).json())
            out.append((await c.get("/echo")).json())
            return out
    s, b, empty, get = run(go())
    assert s["body"] == "héllo" and dict(s["headers"])["Content-Length"] == "6"
    assert dict(b["headers"])["Content-Length"] == "2"
    assert dict(empty["headers"])["Content-Length"] == "0"
    assert "Content-Length" not in dict(get["headers"])
    assert get["method"] == "GET"


def test_large_request_body(http_server: ThreadedServer) -> None:
    payload = b"z" * 2_000_000
    r = _get(f"http://127.0.0.1:{http_server.port}/echo", "POST", body=payload)
    assert r.ok and len(r.json()["body"]) == 2_000_000
    assert r.timings.sending >= 0 and r.bytes_sent > 2_000_000


def test_base_url_concatenation(http_server: ThreadedServer) -> None:
    async def go() -> list[bool]:
        async with HttpClient(base_url=f"http://127.0.0.1:{http_server.port}/api") as c:
            return [(await c.get(u)).ok for u in
                    ("/v1/x", "v1/y", "?q=1", f"http://127.0.0.1:{http_server.port}/echo")]
    assert all(run(go()))
    targets = [r.target for r in http_server.state.requests]
    assert targets == ["/api/v1/x", "/api/v1/y", "/api?q=1", "/echo"]


def test_url_credentials_become_basic_auth_and_are_hidden(http_server: ThreadedServer) -> None:
    url = f"http://user:pa%3Ass@127.0.0.1:{http_server.port}/echo"
    r = _get(url)
    hdrs = dict(r.json()["headers"])
    import base64
    assert hdrs["Authorization"] == "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert "pa" not in r.url and "user" not in r.url and "user" not in repr(r)


def test_path_quoting(http_server: ThreadedServer) -> None:
    r = _get(f"http://127.0.0.1:{http_server.port}/echo/a b/é?x=a b")
    assert http_server.state.requests[-1].target == "/echo/a%20b/%C3%A9?x=a%20b"
    assert r.ok


def test_ipv6_literal(server_factory) -> None:
    try:
        srv = server_factory(normal_handler,
                             host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    r = _get(f"http://[::1]:{srv.port}/echo")
    assert r.ok, r.error_detail
    assert dict(r.json()["headers"])["Host"] == f"[::1]:{srv.port}"
    assert r.url == f"http://[::1]:{srv.port}/echo"


@pytest.mark.parametrize("url, match", [
    ("ftp://example.com/", "unsupported URL scheme"),
    ("http:///nohost", "no host"),
    ("http://h:99999/", "invalid URL"),
    ("/relative", "needs base_url"),
    ("http://u:secret@h:bad/", "invalid URL"),
])
def test_invalid_urls_raise_value_error(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as ei:
        _get(url)
    assert "secret" not in str(ei.value)


def test_invalid_headers_raise_value_error(http_server: ThreadedServer) -> None:
    with pytest.raises(ValueError, match="invalid value"):
        _get(f"http://127.0.0.1:{http_server.port}/", headers={"X": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="header name"):
        _get(f"http://127.0.0.1:{http_server.port}/", headers={"Bad Name": "x"})
    with pytest.raises(ValueError, match="either body= or json="):
        _get(f"http://127.0.0.1:{http_server.port}/", "POST", body=b"x", json={})


def test_helpers_and_lowercase_method(http_server: ThreadedServer) -> None:
    async def go() -> list[str]:
        async with HttpClient(base_url=f"http://127.0.0.1:{http_server.port}") as c:
            out = [(await getattr(c, m)("/echo")).json()["method"]
                   for m in ("get", "post", "put", "patch", "delete")]
            out.append((await c.request("get", "/echo")).json()["method"])
            out.append((await c.head("/echo")).method)
            return out
    assert run(go()) == ["GET", "POST", "PUT", "PATCH", "DELETE", "GET", "HEAD"]


def test_secrets_not_in_repr() -> None:
    c = HttpClient(base_url="http://u:pw@h:1/x", bearer_token="tok-123",
                   headers={"Authorization": "Bearer other-secret"})
    assert "pw" not in repr(c) and "tok-123" not in repr(c) and "other-secret" not in repr(c)
    h = Headers({"Authorization": "Bearer tok-123", "X": "1"})
    assert "tok-123" not in repr(h)


def test_response_standalone() -> None:
    r = Response(status=200, body=json.dumps({"a": 1}).encode(),
                 headers=Headers([("Content-Type", "application/json")]))
    assert r.ok and r.json() == {"a": 1} and r.headers["content-type"] == "application/json"
    assert not Response(status=500).ok and not Response(status=200, error="other").ok
    t = Timings(sending=0.1, waiting=0.2, receiving=0.3)
    assert abs(t.duration - 0.6) < 1e-9


def test_repeated_bodies_on_one_url_each_get_their_own_length(http_server: ThreadedServer) -> None:
    # request heads are cached per (method, URL, content type); bodies are not
    async def go() -> list[dict]:
        async with HttpClient(base_url=f"http://127.0.0.1:{http_server.port}") as c:
            out = []
            for kw in ({"json": {"n": 1}}, {"json": {"n": 12345}}, {"body": b"abc"},
                       {"json": None}, {"json": {"n": 2}, "headers": {"X-A": "b"}},
                       {"json": {"n": 3}}):
                out.append((await c.post("/echo", **kw)).json())
            return out
    echoes = run(go())
    bodies = ['{"n":1}', '{"n":12345}', "abc", "null", '{"n":2}', '{"n":3}']
    for echo, body in zip(echoes, bodies, strict=True):
        hdrs = {k.lower(): v for k, v in echo["headers"]}
        assert echo["body"] == body and hdrs["content-length"] == str(len(body))
        assert ("content-type" in hdrs) == (body != "abc")
    assert {k.lower() for k, _ in echoes[4]["headers"]} >= {"x-a"}
    assert "x-a" not in {k.lower() for k, _ in echoes[5]["headers"]}
