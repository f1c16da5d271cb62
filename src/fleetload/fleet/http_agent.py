"""The certctl agent protocol over the engine's HTTP client.

Register ``POST /api/v1/agents`` (labels ``run_id``), heartbeat ``POST
/api/v1/agents/{id}/heartbeat``, work poll ``GET /api/v1/agents/{id}/work`` at
its own cadence, job status ``POST /api/v1/agents/{id}/jobs/{job_id}/status``,
and for a job waiting for the agent's key (``AwaitingCSR``, certctl's agent
keygen) a CSR, ``POST /api/v1/agents/{id}/csr``. Every request is recorded as
an HTTP sample (``http_req_duration{name:agent heartbeat}``...), so the usual
HTTP thresholds apply too. By default all agents share the worker's pooled
client (connections grow with requests in flight, not with agents);
``--connections per-agent`` / ``per-beat`` give each agent its own connection
(:mod:`fleetload.fleet.agent_connection`).

The work poll's answer is certctl's ``{"jobs": [...], "count": N}`` or the
fleetplane profile's ``{"data": [...], "total": N}``; error bodies are RFC 7807
(``detail``) or certctl's ``{"error", "message"}``. Both are read here, for
the fleet and for the packs speaking the same protocol.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any, ClassVar

from fleetload.engine.runtime import ScenarioRuntime
from fleetload.fleet import identity_sources
from fleetload.fleet.agent import (
    AGENT_VERSION,
    Agent,
    Disconnected,
    FleetLike,
    PendingApproval,
    RegistrationTimeout,
    Rejected,
    Unregistered,
)
from fleetload.fleet.agent_connection import AgentLink, Dialer
from fleetload.fleet.connection_plan import check_ports, sources_of
from fleetload.protocols.http import Response

_NETWORK = frozenset({"connection_refused", "connection_reset", "connect_timeout",
                      "connection_closed", "dns_error", "tls_error", "malformed_response", "other"})
_TIMEOUTS = frozenset({"timeout", "read_timeout"})
_DIALER = "http_agent_dialer"
_JSON_HEADERS = {"Accept": "application/json"}  # also keeps GETs out of the client's per-URL cache


async def record_request(rt: ScenarioRuntime, method: str, url: str, *, name: str,
                         intended: float, via: AgentLink | None = None,
                         **kwargs: Any) -> Response:
    """One request through the shared client (or ``via`` an agent's own
    connection), recorded like ``vu.http`` does (same series keys), with
    ``intended`` as the latency origin."""
    if via is not None:
        resp = await via.request(method, url, **kwargs)
    else:
        resp = await rt.client.request(method, url, **kwargs)
    rt.series.recorder(resp, name).record(resp, intended)
    return resp


def error_text(resp: Response) -> str:
    """What an error body says: RFC 7807 ``detail``/``title``, certctl's
    ``message``/``error`` (its 401s and 429s are JSON sent as text/plain), or
    the start of a plain-text body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.body[:120].decode("utf-8", "replace").strip() if resp.body else ""
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "title"):
            if body.get(key):
                return str(body[key])[:120]
    return ""


def _detail(resp: Response) -> str:
    if resp.error:
        return resp.error + (f" ({resp.error_detail})" if resp.error_detail else "")
    text = error_text(resp)
    return f"HTTP {resp.status}" + (f": {text}" if text else "")


def work_items(body: Any) -> list[dict[str, Any]] | None:
    """The jobs of a work-poll answer, either shape; None when it is neither."""
    if isinstance(body, dict):
        for key in ("jobs", "data"):
            items = body.get(key)
            if isinstance(items, list):
                return [i for i in items if isinstance(i, dict)]
    return None


def job_status_url(agent_id: str, job_id: str) -> str:
    return f"/api/v1/agents/{agent_id}/jobs/{job_id}/status"


def csr_url(agent_id: str) -> str:
    return f"/api/v1/agents/{agent_id}/csr"


@functools.cache
def agent_csr() -> str:
    """A PEM CSR from one P-256 key per process: what an agent submits for an
    AwaitingCSR job (the control plane signs it; the key never leaves)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetload agent")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


class HttpAgent(Agent):
    """An agent speaking the certctl REST agent protocol."""

    __slots__ = ("link",)
    transport: ClassVar[str] = "http"
    has_poll: ClassVar[bool] = True

    def __init__(self, fleet: FleetLike, index: int) -> None:
        super().__init__(fleet, index)
        dialer: Dialer | None = fleet.shared.get(_DIALER)
        self.link = AgentLink(dialer, index, self.hostname) if dialer is not None else None

    @staticmethod
    async def setup_fleet(fleet: FleetLike) -> None:
        ex = fleet.ex
        mode = ex.connection_mode
        if mode == "shared":
            return
        sources = sources_of(ex)
        await check_ports(fleet, mode, sources)
        identities = identity_sources.metered(ex.identities, fleet.rt)
        fleet.shared[_DIALER] = Dialer(fleet.rt, fleet.stats, mode, sources, identities)

    @staticmethod
    async def teardown_fleet(fleet: FleetLike) -> None:
        dialer: Dialer | None = fleet.shared.pop(_DIALER, None)
        if dialer is not None:
            dialer.close_all()

    @staticmethod
    def sockets_needed(fleet: FleetLike) -> int:
        if fleet.ex.connection_mode == "per-agent":
            return fleet.hi - fleet.lo + 256
        return 256

    async def close(self) -> None:
        link = self.link
        if link is not None:
            link.dialer.closing = True
            link.close_idle()

    def _url(self, suffix: str) -> str:
        return f"/api/v1/agents/{self.agent_id}{suffix}"

    async def register(self) -> str:
        fleet = self.fleet
        self.ensure_keys()
        body = {"name": self.hostname, "hostname": self.hostname, "os": "linux",
                "architecture": "amd64", "version": AGENT_VERSION,
                "labels": {"run_id": fleet.run_id, "fleetload": "agent"}}
        resp = await record_request(fleet.rt, "POST", "/api/v1/agents", name="agent register",
                                    intended=time.perf_counter(), via=self.link, json=body)
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
                                    name="agent heartbeat", intended=intended, via=self.link,
                                    json=body)
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
                                    intended=time.perf_counter(), via=self.link,
                                    headers=_JSON_HEADERS)
        self.stats.sent(resp.bytes_sent)
        if resp.status == 0:
            raise Disconnected(_detail(resp))
        if resp.status in (404, 410):
            raise Unregistered(_detail(resp))
        if resp.status != 200:
            self.stats.error(f"work poll: {_detail(resp)}")
            return
        try:
            jobs = work_items(resp.json())
        except ValueError:
            jobs = None
        if jobs is None:
            self.stats.error(f"work poll: HTTP 200 without a job list ({resp.body[:80]!r})")
            return
        for job in jobs:
            await self.on_push("job", job)

    async def on_push(self, kind: str, message: Any) -> None:
        """A job from the work poll: a CSR when it waits for the agent's key
        (AwaitingCSR), else report Running, then Completed (the renewal succeeded)."""
        fleet = self.fleet
        t0 = time.perf_counter()
        steps: list[tuple[str, str, tuple[int, ...], dict[str, Any]]]
        if message.get("status") == "AwaitingCSR":
            steps = [(self._url("/csr"), "agent csr", (202,),
                      {"csr_pem": agent_csr(), "certificate_id": message.get("certificate_id")})]
        else:
            url = self._url(f"/jobs/{message['id']}/status")
            steps = [(url, "job status", (200, 409), {"status": "Running", "message": "renewing"}),
                     (url, "job status", (200, 409), {"status": "Completed", "message": "renewed"})]
        for i, (url, name, ok, body) in enumerate(steps):
            if i:
                await asyncio.sleep(0.05 + 0.2 * fleet.rng.random())
            resp = await record_request(fleet.rt, "POST", url, name=name,
                                        intended=time.perf_counter(), via=self.link, json=body)
            self.stats.sent(resp.bytes_sent)
            if resp.status == 0:
                raise Disconnected(_detail(resp))
            if resp.status not in ok:
                self.stats.error(f"{name}: {_detail(resp)}")
                return
        self.stats.task_duration.append(time.perf_counter() - t0)
        self.stats.push(kind)
