"""``get``/``post``/... shortcuts for anything with a ``request(method, url, **kw)``.

They return the ``request`` coroutine itself instead of wrapping it in another
coroutine: one coroutine less per request on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from fleetload.protocols.http.response import Response


class _Requester(Protocol):
    @property
    def request(self) -> Callable[..., Coroutine[Any, Any, Response]]: ...


class MethodShortcuts:
    __slots__ = ()

    def get(self: _Requester, url: str, **kw: Any) -> Coroutine[Any, Any, Response]:
        return self.request("GET", url, **kw)

    def head(self: _Requester, url: str, **kw: Any) -> Coroutine[Any, Any, Response]:
        return self.request("HEAD", url, **kw)

    def post(self: _Requester, url: str, **kw: Any) -> Coroutine[Any, Any, Response]:
        return self.request("POST", url, **kw)

    def put(self: _Requester, url: str, **kw: Any) -> Coroutine[Any, Any, Response]:
        return self.request("PUT", url, **kw)

    def patch(self: _Requester, url: str, **kw: Any) -> Coroutine[Any, Any, Response]:
        return self.request("PATCH", url, **kw)

    def delete(self: _Requester, url: str, **kw: Any) -> Coroutine[Any, Any, Response]:
        return self.request("DELETE", url, **kw)
