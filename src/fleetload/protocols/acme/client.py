"""An asyncio ACME (RFC 8555) client for load, on the engine's HTTP client.

One :class:`AcmeClient` per worker process: it caches the directory and keeps
the nonce pool; the VU's ``vu.http`` is passed to every call so each request is
recorded in the built-in http metrics (tagged ``name:acme <step>``) with the
VU's tags and intended start. Every response is checked as RFC 8555 requires;
a deviation raises :class:`ProtocolError`, a problem document
:class:`ProblemError` (after counting it), and ``badNonce`` is retried with the
fresh nonce the error carries (RFC 8555 6.5), up to ``bad_nonce_retries`` times.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from fleetload.protocols.acme.jws import AccountKey
from fleetload.protocols.acme.metrics import AcmeMetrics
from fleetload.protocols.acme.nonces import NoncePool
from fleetload.protocols.acme.problems import (
    BAD_NONCE,
    Problem,
    ProblemError,
    ProtocolError,
    parse_problem,
)
from fleetload.protocols.http import Response
from fleetload.protocols.http.session import RecordingSession

JOSE = {"Content-Type": "application/jose+json"}
PEM_CHAIN = "application/pem-certificate-chain"
DEFAULT_BAD_NONCE_RETRIES = 5
"""RFC 8555 6.5 wants clients to retry badNonce. Pebble refuses 5 % of valid
nonces by default: with one retry a request still fails 0.25 % of the time and
an enrollment of ~10 signed POSTs 2-3 %; with five, 0.05^6 per request."""


@dataclass(frozen=True)
class Directory:
    new_nonce: str
    new_account: str
    new_order: str
    revoke_cert: str | None
    renewal_info: str | None

    @classmethod
    def parse(cls, data: Any) -> Directory:
        if not isinstance(data, dict):
            raise ProtocolError("directory", "not a JSON object")
        missing = [k for k in ("newNonce", "newAccount", "newOrder")
                   if not isinstance(data.get(k), str)]
        if missing:
            raise ProtocolError("directory", "missing " + ",".join(missing))
        opt = {k: v if isinstance(v, str) else None
               for k, v in ((k, data.get(k)) for k in ("revokeCert", "renewalInfo"))}
        return cls(data["newNonce"], data["newAccount"], data["newOrder"],
                   opt["revokeCert"], opt["renewalInfo"])


def retry_after(resp: Response, now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), if any."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def json_object(resp: Response, step: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise ProtocolError(step, "malformed JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(step, "JSON body is not an object")
    return data


def location(resp: Response, step: str) -> str:
    loc = resp.headers.get("Location")
    if not loc:
        raise ProtocolError(step, "missing Location")
    return loc


class AcmeClient:
    """Directory cache, nonce pool and signed requests of one worker."""

    def __init__(self, directory_url: str, metrics: AcmeMetrics | None = None, *,
                 bad_nonce_retries: int = DEFAULT_BAD_NONCE_RETRIES) -> None:
        self.directory_url = directory_url
        self.bad_nonce_retries = bad_nonce_retries
        self.metrics = metrics
        self.nonces = NoncePool()
        self._directory: Directory | None = None
        self._dir_lock = asyncio.Lock()
        self.sign_seconds = 0.0  # in-process totals, for benchmarks
        self.signs = 0

    # -- discovery and nonces --------------------------------------------------------
    async def directory(self, http: RecordingSession) -> Directory:
        if self._directory is not None:
            return self._directory
        async with self._dir_lock:  # one fetch per worker, not one per waiting VU
            if self._directory is None:
                resp = await http.get(self.directory_url, name="acme directory",
                                      headers={"Accept": "application/json"})
                self.check(resp, "directory", (200,))
                self._directory = Directory.parse(json_object(resp, "directory"))
        return self._directory

    async def _nonce(self, http: RecordingSession) -> str:
        nonce = self.nonces.take()
        if nonce is not None:
            return nonce
        d = await self.directory(http)
        resp = await http.head(d.new_nonce, name="acme new-nonce")
        self.nonces.fetched += 1
        if self.metrics is not None:
            self.metrics.new_nonce.add(1)
        self.check(resp, "new-nonce", (200, 204))
        fresh = resp.headers.get("Replay-Nonce")
        if not fresh:
            raise ProtocolError("new-nonce", "missing Replay-Nonce")
        return fresh

    # -- requests ------------------------------------------------------------------
    def problem(self, step: str, problem: Problem) -> ProblemError:
        """Count a problem and return the exception that fails the enrollment."""
        if self.metrics is not None:
            self.metrics.problem(step, problem)
        return ProblemError(step, problem)

    def check(self, resp: Response, step: str, expect: Collection[int]) -> None:
        if resp.error is not None:
            raise ProtocolError(step, resp.error, resp.error_detail or "")
        if resp.status in expect:
            return
        problem = parse_problem(resp) if resp.status >= 400 else None
        if problem is not None:
            raise self.problem(step, problem)
        raise ProtocolError(step, f"unexpected status {resp.status}")

    async def post(self, http: RecordingSession, url: str, payload: Any, key: AccountKey, *,
                   step: str, expect: Collection[int] = (200,), use_jwk: bool = False,
                   accept: str | None = None) -> Response:
        """A signed POST (``payload`` None: POST-as-GET), checked; badNonce retried
        ``bad_nonce_retries`` times, each retry counted in ``acme_bad_nonce_retries``."""
        headers = JOSE if accept is None else {**JOSE, "Accept": accept}
        name = f"acme {step}"
        nonce = await self._nonce(http)
        attempts = 1 + self.bad_nonce_retries
        for attempt in range(1, attempts + 1):
            body, spent = key.sign(url, nonce, payload, use_jwk=use_jwk)
            self.sign_seconds += spent
            self.signs += 1
            if self.metrics is not None:
                self.metrics.sign.add(spent * 1000.0)
            resp = await http.post(url, body=body, headers=headers, name=name,
                                   expected_statuses=expect)
            if resp.error is not None:
                raise ProtocolError(step, resp.error, resp.error_detail or "")
            fresh = resp.headers.get("Replay-Nonce")
            if resp.status in expect:
                if not fresh:
                    raise ProtocolError(step, "missing Replay-Nonce")
                self.nonces.add(fresh)
                return resp
            problem = parse_problem(resp) if resp.status >= 400 else None
            if problem is None:
                self.nonces.add(fresh)
                raise ProtocolError(step, f"unexpected status {resp.status}")
            if problem.type == BAD_NONCE and attempt < attempts:
                # RFC 8555 6.5: the error carries a fresh nonce; spend it at once.
                if self.metrics is not None:
                    self.metrics.bad_nonce_retries.add(1, tags={"step": step})
                nonce = fresh if fresh else await self._nonce(http)
                continue
            self.nonces.add(fresh)
            raise self.problem(step, problem)
        raise AssertionError("unreachable")

    async def poll(self, http: RecordingSession, url: str, key: AccountKey, *, step: str,
                   done: Collection[str], timeout: float, interval: float,
                   cap: float, settled: Callable[[dict[str, Any]], bool] | None = None,
                   ) -> dict[str, Any]:
        """POST-as-GET ``url`` until its ``status`` is in ``done`` or ``invalid``,
        or ``settled(object)`` says no further poll can change the outcome.

        Waits ``Retry-After`` when the server gives it (capped at ``cap``: a
        server asking for minutes would stall the load test), else ``interval``
        growing by half each time up to 2 s. Past ``timeout`` seconds in total:
        a ``poll timeout`` protocol error.
        """
        deadline = time.monotonic() + timeout
        delay = interval
        while True:
            resp = await self.post(http, url, None, key, step=step)
            obj = json_object(resp, step)
            status = obj.get("status")
            if status in done or status == "invalid" or (settled is not None and settled(obj)):
                return obj
            if status not in ("pending", "processing", "ready"):
                raise ProtocolError(step, f"unexpected state {str(status)[:20]}")
            wait = retry_after(resp)
            wait = min(cap, wait) if wait is not None else delay
            delay = min(delay * 1.5, max(interval, 2.0))
            if time.monotonic() + wait > deadline:
                raise ProtocolError(step, "poll timeout")
            await asyncio.sleep(wait)
