"""Response, Headers and Timings of the HTTP client.

All three use ``__slots__`` and are built on the hot path with as little work
as possible: header names/values are kept as the raw ``bytes`` pairs the parser
produced and decoded only when a script looks at them.
"""

from __future__ import annotations

import json as _json
from collections.abc import Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any, overload

import httptools

from fleetload.metrics.http_timing import RAW_BYTES_RECEIVED, RAW_BYTES_SENT, RawTimes

_HeaderPairs = list[tuple[bytes, bytes]]


class _Stop(Exception):
    pass


class _HeadCollector:
    """Parser callbacks collecting the status line and headers of the final
    (non-1xx) response in a raw response prefix."""

    __slots__ = ("complete", "headers", "parser", "reason", "status")

    def __init__(self) -> None:
        self.headers: _HeaderPairs = []
        self.reason = b""
        self.parser: Any = None
        self.complete = False
        self.status = 0

    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if not 100 <= status < 200 or status == 101:
            self.complete = True
            self.status = status
            raise _Stop


def parse_head(raw: bytes) -> tuple[bool, int, bytes, _HeaderPairs]:
    """``(complete, status, reason, header pairs)`` of the final response whose
    bytes start ``raw`` (received bytes up to and including the header block;
    what follows is ignored). ``complete`` tells whether the header block ended."""
    if not raw:
        return False, 0, b"", []
    c = _HeadCollector()
    c.parser = httptools.HttpResponseParser(c)
    try:
        c.parser.feed_data(raw)
    except (httptools.HttpParserError, _Stop):
        pass
    return c.complete, c.status, c.reason, c.headers


class Headers:
    """Case-insensitive, multi-valued, order-preserving response headers.

    ``get``/``[]`` return the first value of a name, ``get_all`` every value
    (e.g. several ``Set-Cookie``); ``items()`` yields every ``(name, value)``
    pair in received order with the received name case.
    """

    __slots__ = ("_index", "_items", "_raw")

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]
                 | Iterable[tuple[bytes, bytes]] | None = None) -> None:
        self._raw: _HeaderPairs | None = None
        self._items: list[tuple[str, str]] | None = None
        self._index: dict[str, list[str]] | None = None
        if headers is None:
            self._items = []
            return
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        items: list[tuple[str, str]] = []
        for k, v in pairs:
            items.append((k.decode("latin-1") if isinstance(k, bytes) else str(k),
                          v.decode("latin-1") if isinstance(v, bytes) else str(v)))
        self._items = items

    @classmethod
    def _from_pairs(cls, raw: _HeaderPairs) -> Headers:
        h = cls()
        h._raw = raw
        h._items = None  # decoded from _raw on first use
        return h

    def _pairs(self) -> list[tuple[str, str]]:
        items = self._items
        if items is None:
            raw = self._raw or []
            items = self._items = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
        return items

    def _idx(self) -> dict[str, list[str]]:
        idx = self._index
        if idx is None:
            idx = {}
            for k, v in self._pairs():
                idx.setdefault(k.lower(), []).append(v)
            self._index = idx
        return idx

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: Any) -> Any: ...

    def get(self, name: str, default: Any = None) -> Any:
        values = self._idx().get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._idx().get(name.lower(), ()))

    def __getitem__(self, name: str) -> str:
        values = self._idx().get(name.lower())
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._idx()

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._pairs())

    def __len__(self) -> int:
        return len(self._pairs())

    def __bool__(self) -> bool:
        return bool(self._raw) if self._items is None else bool(self._items)

    def keys(self) -> list[str]:
        return [k for k, _ in self._pairs()]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs() == other._pairs()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = [(k, "***" if k.lower() in ("authorization", "set-cookie", "cookie",
                                             "proxy-authorization") else v)
                 for k, v in self._pairs()]
        return f"Headers({shown!r})"


class Timings:
    """k6's request phases, in seconds.

    ``blocked``: waiting for a pool slot / idle connection (includes DNS lookup
    of a new connection, like k6); ``connecting``: TCP connect (0 when reused);
    ``tls_handshaking`` (0 when reused or plain); ``sending``; ``waiting``
    (request written -> first response byte); ``receiving`` (first -> last
    byte); ``duration`` = sending + waiting + receiving (k6's
    ``http_req_duration``); ``started``/``finished`` are ``time.perf_counter()``
    timestamps of the ``request()`` call's start and of the last byte / failure.
    """

    __slots__ = ("blocked", "connecting", "duration", "finished", "receiving", "sending",
                 "started", "tls_handshaking", "waiting")

    def __init__(self, *, blocked: float = 0.0, connecting: float = 0.0,
                 tls_handshaking: float = 0.0, sending: float = 0.0, waiting: float = 0.0,
                 receiving: float = 0.0, started: float = 0.0, finished: float = 0.0) -> None:
        self.blocked = blocked
        self.connecting = connecting
        self.tls_handshaking = tls_handshaking
        self.sending = sending
        self.waiting = waiting
        self.receiving = receiving
        self.duration = sending + waiting + receiving
        self.started = started
        self.finished = finished

    @classmethod
    def from_raw(cls, raw: RawTimes) -> Timings:
        started, t_send, t_sent, t_first, t_last, blocked, connecting, tls = raw[:8]
        return cls(blocked=blocked, connecting=connecting, tls_handshaking=tls,
                   sending=t_sent - t_send, waiting=t_first - t_sent,
                   receiving=t_last - t_first, started=started, finished=t_last)

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in (
            "blocked", "connecting", "tls_handshaking", "sending", "waiting", "receiving",
            "duration", "started", "finished")}

    def __repr__(self) -> str:
        return ("Timings(" + ", ".join(f"{k}={v * 1000:.3f}ms" for k, v in self.as_dict().items()
                                       if k not in ("started", "finished")) + ")")


def raw_times(t: Timings, bytes_sent: int = 0, bytes_received: int = 0) -> RawTimes:
    """The raw tuple that reproduces ``t`` (for responses built by hand)."""
    t_last = t.finished
    t_first = t_last - t.receiving
    t_sent = t_first - t.waiting
    return (t.started, t_sent - t.sending, t_sent, t_first, t_last, t.blocked, t.connecting,
            t.tls_handshaking, bytes_sent, bytes_received)


def _charset(content_type: str | None) -> str:
    if content_type:
        for part in content_type.split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset":
                value = value.strip().strip('"').strip("'")
                if value:
                    return value
    return "utf-8"


class Response:
    """The outcome of one request; ``error`` is ``None`` on success, else one of
    :class:`~fleetload.protocols.http.ErrorClass` (``status`` is then 0, or the
    status if the headers arrived before the failure).

    Built on the hot path by the connection with the fewest possible stores:
    headers stay raw bytes until ``headers``/``reason`` are read, timings stay
    a tuple (``_t``, see :data:`RawTimes`) until ``timings`` is read.
    """

    __slots__ = ("_detail", "_parsed", "_raw_headers", "_t", "_timings", "body", "error",
                 "method", "status", "url")

    status: int
    body: bytes
    method: str
    url: str
    error: str | None
    _detail: str | None  # unset while error is None
    _t: RawTimes
    _timings: Timings  # unset until first read
    _raw_headers: bytes  # received bytes up to the end of the header block
    _parsed: tuple[str, Headers]  # unset until first read

    def __init__(self, *, status: int = 0, reason: str = "", headers: Headers | None = None,
                 body: bytes = b"", method: str = "GET", url: str = "",
                 error: str | None = None, error_detail: str | None = None,
                 timings: Timings | None = None, bytes_sent: int = 0,
                 bytes_received: int = 0) -> None:
        self.status = status
        self._raw_headers = b""
        self._parsed = (reason, headers if headers is not None else Headers())
        self.body = body
        self.method = method
        self.url = url
        self.error = error
        self._detail = error_detail
        t = timings if timings is not None else Timings()
        self._timings = t
        self._t = raw_times(t, bytes_sent, bytes_received)

    def _head(self) -> tuple[str, Headers]:
        try:
            return self._parsed
        except AttributeError:
            pass
        _, _, raw_reason, pairs = parse_head(self._raw_headers)
        self._raw_headers = b""
        reason = raw_reason.decode("latin-1").strip()
        if not reason and self.status:
            try:
                reason = HTTPStatus(self.status).phrase
            except ValueError:
                reason = ""
        parsed = self._parsed = (reason, Headers._from_pairs(pairs))
        return parsed

    @property
    def headers(self) -> Headers:
        return self._head()[1]

    @property
    def reason(self) -> str:
        return self._head()[0]

    @property
    def timings(self) -> Timings:
        try:
            return self._timings
        except AttributeError:
            t = self._timings = Timings.from_raw(self._t)
            return t

    @property
    def error_detail(self) -> str | None:
        return self._detail if self.error is not None else None

    @property
    def bytes_sent(self) -> int:
        return self._t[RAW_BYTES_SENT]

    @property
    def bytes_received(self) -> int:
        return self._t[RAW_BYTES_RECEIVED]

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 400

    @property
    def text(self) -> str:
        body = self.body
        if not body:
            return ""
        charset = _charset(self.headers.get("content-type"))
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            return body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not valid JSON."""
        try:
            return _json.loads(self.body)
        except ValueError:
            raise
        except Exception as exc:  # e.g. TypeError on odd encodings
            raise ValueError(f"invalid JSON body: {exc}") from exc

    def __repr__(self) -> str:
        extra = f" error={self.error}" if self.error else ""
        return f"<Response {self.method} {self.url} {self.status}{extra}>"


class Received(Response):
    """A :class:`Response` as the connection builds it on the hot path: the
    received bytes up to the end of the header block (parsed when a script
    looks at them) and the raw timing tuple (:data:`RawTimes`)."""

    __slots__ = ()

    def __init__(self, status: int, raw_headers: bytes, body: bytes, method: str, url: str,
                 error: str | None, detail: str | None, t: RawTimes) -> None:
        self.status = status
        self._raw_headers = raw_headers
        self.body = body
        self.method = method
        self.url = url
        self.error = error
        self._detail = detail
        self._t = t


__all__ = ["Headers", "Received", "Response", "Timings", "raw_times"]
