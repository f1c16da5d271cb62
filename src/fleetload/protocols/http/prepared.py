"""A request on its way to the wire: the encoded bytes of one request
(:class:`Prepared`), the cached request line and headers they are built from
(:class:`Head`), and what a connection needs of the pool that owns it
(:class:`PoolLike`, so a test can drive a connection with a pool of its own)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fleetload.protocols.http.connection import Connection


class PoolLike(Protocol):
    """What a connection needs of the pool that owns it (the pool is
    :class:`fleetload.protocols.http.pool.Pool`; a test may pass its own)."""

    loop: asyncio.AbstractEventLoop
    keep_alive: bool
    read_timeout: float
    idle: dict[Connection, None]
    waiters: Any  # truthy while requests wait for a connection

    def release(self, conn: Connection) -> None: ...

    def discard(self, conn: Connection) -> None: ...


class Prepared:
    """The encoded request: built once per (method, url) when the call has no
    per-request headers/body/params, so repeated requests only reuse bytes."""

    __slots__ = ("body", "data", "head", "idle", "method", "nbytes", "pool", "url")

    def __init__(self, pool: PoolLike, method: str, url: str, data: bytes,
                 body: bytes | None) -> None:
        self.pool = pool
        self.idle = pool.idle
        self.method = method
        self.url = url  # full URL without credentials
        self.data = data  # request line + headers (+ small body)
        self.body = body  # large body written separately, else None
        self.head = method == "HEAD"
        self.nbytes = len(data) + (len(body) if body is not None else 0)


class Head:
    """Request line and headers of one (method, URL, content type): complete,
    or ending in ``Content-Length: `` when the request carries a length
    (``sized``)."""

    __slots__ = ("display", "method", "pool", "prefix", "sized")

    def __init__(self, pool: PoolLike, method: str, display: str, prefix: bytes,
                 sized: bool) -> None:
        self.pool = pool
        self.method = method
        self.display = display
        self.prefix = prefix
        self.sized = sized


__all__ = ["Head", "PoolLike", "Prepared"]
