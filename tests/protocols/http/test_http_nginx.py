"""Against a real nginx (skipped when /usr/sbin/nginx is missing)."""

from __future__ import annotations

import asyncio

from httpsrv import run

from fleetload.protocols.http import HttpClient


def test_nginx_keep_alive_load(nginx_url: str) -> None:
    async def go() -> tuple[int, int, int]:
        async with HttpClient(base_url=nginx_url) as c:
            ok = 0

            async def worker() -> None:
                nonlocal ok
                for _ in range(200):
                    r = await c.get("/")
                    ok += r.ok and r.body == b"ok"
            await asyncio.gather(*(worker() for _ in range(20)))
            return ok, c.open_connections, (await c.head("/")).status
    ok, n, head_status = run(go())
    assert ok == 4000 and n == 20 and head_status == 200


def test_nginx_static_file_and_404(nginx_url: str) -> None:
    async def go() -> list:
        async with HttpClient(base_url=nginx_url) as c:
            return [await c.get("/static/big.bin"), await c.get("/static/missing"),
                    await c.head("/static/big.bin"), await c.post("/", json={"a": 1})]
    big, missing, head, post = run(go())
    assert big.ok and len(big.body) == 300_000
    assert big.headers["content-length"] == "300000"
    assert missing.status == 404 and not missing.ok and missing.error is None
    assert head.ok and head.body == b"" and head.headers["content-length"] == "300000"
    assert post.status in (200, 405)
