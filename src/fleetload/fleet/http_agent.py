"""The certctl agent protocol over the engine's HTTP client.

Register ``POST /api/v1/agents`` (labels ``run_id``), heartbeat ``POST
/api/v1/agents/{id}/heartbeat``, work poll ``GET /api/v1/agents/{id}/work`` at
its own cadence, job status ``POST /api/v1/jobs/{id}/status``. Every request is
recorded as an HTTP sample (``http_req_duration{name:agent heartbeat}``...), so
the usual HTTP thresholds apply too. All agents share the worker's pooled
client: connections grow with requests in flight, not with agents.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from fleetload.engine.runtime import ScenarioRuntime
from fleetload.fleet.agent import (
    AGENT_VERSION,
    Agent,
    Disconnected,
    PendingApproval,
    RegistrationTimeout,
    Rejected,
    Unregistered,
)
from fleetload.protocols.http import Response

_NETWORK = frozenset({"connection_refused", "connection_reset", "connect_timeout",
                      "connection_closed", "dns_error", "tls_error", "malformed_response", "other"})
_TIMEOUTS = frozenset({"timeout", "read_timeout"})
_JSON_HEADERS = {"Accept": "application/json"}  # also keeps GETs out of the client's per-URL cache


async def record_request(rt: ScenarioRuntime, method: str, url: str, *, name: str,
                         intended: float, **kwargs: Any) -> Response:
    """One request through the shared client, recorded like ``vu.http`` does
    (same series keys), with ``intended`` as the latency origin."""
    resp = await rt.client.request(method, url, **kwargs)
    status, err = resp.status, resp.error
    key = (name, method, status, err, None, None)
    rec = rt.http_recorders.get(key)
    if rec is None:
        ok = err is None and 200 <= status < 400
        rec = rt.new_http_recorder(key, name, method, status, err, ok, None)
    if not rec.expected:
        rt.note_failure(resp)
    rec.record(resp, intended)
    return resp


def _detail(resp: Response) -> str:
    if resp.error:
        return resp.error + (f" ({resp.error_detail})" if resp.error_detail else "")
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("detail"):
            return f"HTTP {resp.status}: {str(body['detail'])[:120]}"
    except ValueError:
        pass
    return f"HTTP {resp.status}"


class HttpAgent(Agent):
    """An agent speaking the certctl REST agent protocol."""

    __slots__ = ()
    transport: ClassVar[str] = "http"
    has_poll: ClassVar[bool] = True

    def _url(self, suffix: str) -> str:
        return f"/api/v1/agents/{self.agent_id}{suffix}"

    async def register(self) -> str:
        fleet = self.fleet
        self.ensure_keys()
        body = {"name": self.hostname, "hostname": self.hostname, "os": "linux",
                "architecture": "amd64", "version": AGENT_VERSION,
                "labels": {"run_id": fleet.run_id, "fleetload": "agent"}}
        resp = await record_request(fleet.rt, "POST", "/api/v1/agents", name="agent register",
                                    intended=time.perf_counter(), json=body)
        self.stats.sent(resp.bytes_sent)
        if resp.error in _TIMEOUTS:
            raise RegistrationTimeout(resp.error)
        if resp.status == 0:
            raise ConnectionError(_detail(resp))
        if 200 <= resp.status < 300:
            data = resp.json()
            self.agent_id = str(data["id"])
            return "pending" if data.get("status") == "Pending" else "active"
        if resp.status == 429 or resp.status >= 500:
            raise ConnectionError(_detail(resp))
        raise Rejected(_detail(resp))

    async def _heartbeat(self, intended: float) -> None:
        body = {"version": AGENT_VERSION, "metrics": self.sample_metrics()}
        resp = await record_request(self.fleet.rt, "POST", self._url("/heartbeat"),
                                    name="agent heartbeat", intended=intended, json=body)
        stats = self.stats
        stats.heartbeat_sent(resp.bytes_sent)
        ok = 200 <= resp.status < 300
        stats.heartbeat_result(ok, resp.timings.duration if ok else None)
        if ok:
            return
        if resp.status == 0:
            raise Disconnected(_detail(resp))
        if resp.status in (404, 410):
            raise Unregistered(_detail(resp))
        if resp.status == 403:
            raise PendingApproval(_detail(resp))
        stats.error(f"heartbeat: {_detail(resp)}")

    async def open(self) -> None:
        """A REST agent has no stream: "connecting" is a heartbeat that gets through."""
        await self._heartbeat(time.perf_counter())

    async def heartbeat(self) -> None:
        await self._heartbeat(self.tick_due)

    async def poll(self) -> None:
        fleet = self.fleet
        resp = await record_request(fleet.rt, "GET", self._url("/work"), name="agent work",
                                    intended=time.perf_counter(), headers=_JSON_HEADERS)
        self.stats.sent(resp.bytes_sent)
        if resp.status == 0:
            raise Disconnected(_detail(resp))
        if resp.status in (404, 410):
            raise Unregistered(_detail(resp))
        if resp.status != 200:
            self.stats.error(f"work poll: {_detail(resp)}")
            return
        for job in resp.json().get("data", []):
            await self.on_push("job", job)

    async def on_push(self, kind: str, message: Any) -> None:
        """A claimed job: report Running, then Completed (the renewal succeeded)."""
        fleet = self.fleet
        t0 = time.perf_counter()
        url = f"/api/v1/jobs/{message['id']}/status"
        for status, text in (("Running", "renewing"), ("Completed", "renewed")):
            if status == "Completed":
                await asyncio.sleep(0.05 + 0.2 * fleet.rng.random())
            resp = await record_request(fleet.rt, "POST", url, name="job status",
                                        intended=time.perf_counter(),
                                        json={"status": status, "message": text})
            self.stats.sent(resp.bytes_sent)
            if resp.status == 0:
                raise Disconnected(_detail(resp))
            if resp.status not in (200, 409):
                self.stats.error(f"job status: {_detail(resp)}")
                return
        self.stats.task_duration.append(time.perf_counter() - t0)
        self.stats.push(kind)
