"""Seeding the certctl load-test fixtures through a running target's REST API.

Works against either profile and against certctl itself: what is already
there is read from the listings first and skipped (certctl answers a
duplicate certificate name with a 500, not a 409), and 429 answers are
retried after their ``Retry-After`` (certctl rate limits every client).
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from fleetplane.seed import SeedResult, agent_fields, agent_id, cert_fields, cert_name
from fleetplane.timeutil import now

_PAGE = 500
_RETRY_429_S = 60.0


class _Conn(threading.local):
    conn: http.client.HTTPConnection | None = None


class ApiClient:
    """One keep-alive connection per thread; reconnects once on a dropped one."""

    def __init__(self, target_url: str, api_key: str, *, verify_tls: bool, timeout: float) -> None:
        parts = urlsplit(target_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port
        self.ctx = ssl.create_default_context() if parts.scheme == "https" else None
        if self.ctx is not None and not verify_tls:
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._local = _Conn()

    def _connect(self) -> http.client.HTTPConnection:
        if self.ctx is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _once(self, method: str, path: str, body: str | None) -> tuple[int, bytes, str | None]:
        for attempt in range(2):
            if self._local.conn is None:
                self._local.conn = self._connect()
            try:
                self._local.conn.request(method, path, body, self.headers)
                resp = self._local.conn.getresponse()
                return resp.status, resp.read(), resp.getheader("retry-after")
            except (OSError, http.client.HTTPException):
                self._local.conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Retries 429s for up to a minute, honouring Retry-After (at most 2 s a wait)."""
        data = None if body is None else json.dumps(body)
        deadline = time.monotonic() + _RETRY_429_S
        while True:
            status, payload, retry_after = self._once(method, path, data)
            if status != 429 or time.monotonic() > deadline:
                return status, payload
            try:
                wait = float(retry_after or 1)
            except ValueError:
                wait = 1.0
            time.sleep(min(max(wait, 0.05), 2.0))

    def list_all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a page listing (``{data,total,page,per_page}``)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            status, payload = self.request("GET", f"{path}?per_page={_PAGE}&page={page}")
            if status != 200:
                raise RuntimeError(f"GET {path} -> {status}: {payload[:300]!r}")
            body = json.loads(payload)
            data = body.get("data") or []
            out.extend(data)
            if not data or page * int(body.get("per_page") or _PAGE) >= int(body.get("total") or 0):
                return out
            page += 1


def seed_via_api(
    target_url: str,
    api_key: str,
    *,
    certs: int = 10_000,
    agents: int = 5_000,
    concurrency: int = 16,
    verify_tls: bool = True,
    timeout: float = 30.0,
) -> SeedResult:
    """Seed what is missing; certificates created this way start Pending (the
    API has no status field). Agent ids are sent as ``id`` so they match."""
    client = ApiClient(target_url, api_key, verify_tls=verify_tls, timeout=timeout)
    start = time.perf_counter()
    have_certs = {str(c.get("name")) for c in client.list_all("/api/v1/certificates")} if certs else set()
    have_agents = {str(a.get("id")) for a in client.list_all("/api/v1/agents")} if agents else set()

    def post(path: str, body: dict[str, Any]) -> int:
        status, payload = client.request("POST", path, body)
        if status not in (201, 409):
            raise RuntimeError(f"POST {path} -> {status}: {payload[:300]!r}")
        return status

    t = now()
    cert_todo = [i for i in range(1, certs + 1) if cert_name(i) not in have_certs]
    agent_todo = [i for i in range(1, agents + 1) if agent_id(i) not in have_agents]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        cert_status = list(pool.map(lambda i: post("/api/v1/certificates", cert_fields(i, certs, t)), cert_todo))
        agent_status = list(pool.map(lambda i: post("/api/v1/agents", agent_fields(i)), agent_todo))
    certs_added = cert_status.count(201)
    agents_added = agent_status.count(201)
    return SeedResult(
        certs_added=certs_added,
        certs_skipped=certs - certs_added,
        agents_added=agents_added,
        agents_skipped=agents - agents_added,
        seconds=time.perf_counter() - start,
        via="api",
    )
