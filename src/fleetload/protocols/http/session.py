"""What code that sends requests on a VU's behalf needs of ``vu.http``.

The engine's session (``fleetload.engine.http_session.HttpSession``) records every
request with the VU's tags and latency origin; protocol code above the HTTP
client (ACME, agents) is written against this protocol, so it needs nothing
from the engine.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from fleetload.protocols.http.response import Response


class RecordingSession(Protocol):
    def get(self, url: str, **kw: Any) -> Coroutine[Any, Any, Response]: ...

    def head(self, url: str, **kw: Any) -> Coroutine[Any, Any, Response]: ...

    def post(self, url: str, **kw: Any) -> Coroutine[Any, Any, Response]: ...


__all__ = ["RecordingSession"]
