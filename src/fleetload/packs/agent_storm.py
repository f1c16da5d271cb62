"""agent-storm: a seeded agent fleet heartbeating at its native cadence (5,000 agents / 30 s).

Every agent of the fleet sends ``POST /api/v1/agents/{id}/heartbeat`` once per
heartbeat interval, so the control plane sees ``agents / interval`` requests a
second: 5,000 agents every 30 s is 166.7 req/s. The rate is computed from the
fleet, never typed: scale the fleet (``--agents``) or its cadence
(``--heartbeat-interval``) and the load follows. Iterations walk the fleet
round robin (``ag-loadtest-00001``, ``-00002``, ...), so each agent beats exactly
once per interval, as a real fleet does.

    fleetload run agent-storm --target https://host:8443 --token KEY
    fleetload run agent-storm ... --agents 20000 --heartbeat-interval 60s --work-poll

``--work-poll`` adds the agents' work polling (``GET /api/v1/agents/{id}/work``)
at its own cadence (``--work-poll-interval``) as a second scenario, reading
certctl's ``{"jobs", "count"}`` or the fleetplane profile's ``{"data", "total"}``.
Each job is handled as a real agent would: reported ``Completed``
(``POST /api/v1/agents/{id}/jobs/{job}/status``), or, when it waits for the
agent's key (``AwaitingCSR``, certctl's agent keygen), answered with a CSR
(``POST /api/v1/agents/{id}/csr``).
The fleet must be seeded (``--seed``, or ``fleetload seed --agents N`` first).

Against certctl's default rate limiter (50 req/s per client, burst 100) the
default 166.7 heartbeats/s mostly get 429s and the run fails its thresholds:
raise the limiter for the test (``CERTCTL_RATE_LIMIT_RPS``) or turn it off.
"""

from __future__ import annotations

from typing import Any

from fleetload import VU, ConfigError, ConstantArrivalRate, Duration, check, param, scenario
from fleetload.fleet.http_agent import agent_csr, csr_url, job_status_url, work_items
from fleetload.packs import _common

AGENTS = param("agents", int, default=5000, help="fleet size (ag-loadtest-00001..)")
INTERVAL = param("heartbeat_interval", Duration, default="30s",
                 help="how often each agent heartbeats")
WORK_POLL = param("work_poll", bool, default=False, help="also poll for work")
WORK_POLL_INTERVAL = param("work_poll_interval", Duration, default="30s",
                           help="how often each agent polls for work")
DURATION = param("duration", Duration, default="5m")
SEED = param("seed", str, help="seed the fleet first: bare (through the API) or a database URL")
TARGET = param("target", str)

if AGENTS < 1 or INTERVAL <= 0 or WORK_POLL_INTERVAL <= 0:
    raise ConfigError("--agents, --heartbeat-interval and --work-poll-interval must be positive")
HEARTBEAT_RATE = AGENTS / INTERVAL  # requests per second: the fleet arithmetic
WORK_POLL_RATE = AGENTS / WORK_POLL_INTERVAL

thresholds: dict[str, list[Any]] = {
    "http_req_duration{scenario:heartbeat}": ["p(95)<500", "p(99)<1000"],
    "http_req_failed{scenario:heartbeat}": ["rate<0.001"],
}
if WORK_POLL:
    thresholds["http_req_duration{scenario:work_poll}"] = ["p(95)<500", "p(99)<1000"]
    thresholds["http_req_failed{scenario:work_poll}"] = ["rate<0.001"]


async def setup(ctx: Any) -> None:
    _common.say(f"agent-storm: {AGENTS} agents / {INTERVAL:g}s heartbeat interval "
                f"= {HEARTBEAT_RATE:.1f} heartbeats/s")
    if WORK_POLL:
        _common.say(f"agent-storm: {AGENTS} agents / {WORK_POLL_INTERVAL:g}s work-poll interval "
                    f"= {WORK_POLL_RATE:.1f} work polls/s")
    mode = _common.seed_mode(SEED)
    if mode:
        await _common.seed(ctx.http, mode, agents=AGENTS)
    await _common.require_agents(ctx.http, AGENTS, target=TARGET)


def fleet_member(vu: VU, offset: int = 0) -> str:
    """Round robin over the fleet: iteration n is agent (n mod AGENTS) + 1."""
    return _common.agent_id((vu.scenario_iteration + offset) % AGENTS + 1)


# rate=AGENTS per time_unit=INTERVAL: exactly one beat per agent per interval.
@scenario(ConstantArrivalRate(rate=AGENTS, time_unit=INTERVAL, duration=DURATION))
async def heartbeat(vu: VU) -> None:
    r = await vu.http.post(f"/api/v1/agents/{fleet_member(vu)}/heartbeat",
                           json={"version": "1.0.0"}, name="heartbeat")
    check(r, {"heartbeat recorded": lambda r: r.status == 200
              and r.json().get("status") == "heartbeat_recorded"})


if WORK_POLL:

    @scenario(ConstantArrivalRate(rate=AGENTS, time_unit=WORK_POLL_INTERVAL, duration=DURATION))
    async def work_poll(vu: VU) -> None:
        # Start half a fleet away from the heartbeats so one agent's two calls do not coincide.
        agent = fleet_member(vu, offset=AGENTS // 2)
        r = await vu.http.get(f"/api/v1/agents/{agent}/work", name="work_poll")
        jobs = None
        if r.status == 200:
            try:
                jobs = work_items(r.json())
            except ValueError:
                jobs = None
        check(r, {"work 200": lambda r: r.status == 200,
                  "work is a job list": lambda r: jobs is not None})
        for job in jobs or []:
            await handle_job(vu, agent, job)


async def handle_job(vu: VU, agent: str, job: dict[str, Any]) -> None:
    """What an agent does with a job: a CSR for one waiting for its key, else
    a status report (certctl's per-agent path, served by both profiles)."""
    if job.get("status") == "AwaitingCSR":
        r = await vu.http.post(csr_url(agent), name="agent_csr",
                               json={"csr_pem": agent_csr(), "certificate_id": job.get("certificate_id")})
        check(r, {"csr accepted": lambda r: r.status == 202})
        return
    r = await vu.http.post(job_status_url(agent, str(job["id"])), name="job_status",
                           json={"status": "Completed", "message": "agent-storm"})
    check(r, {"job reported": lambda r: r.status == 200})
