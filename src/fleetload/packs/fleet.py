"""fleet: simulate an agent fleet on the real wire protocol.

    fleetload run fleet --transport grpc --agents 5000 --ramp 60s \
        --target http://127.0.0.1:8443 --token KEY --duration 10m

Agents register (labels run_id), heartbeat every --heartbeat-interval ±--jitter,
keep a stream open (gRPC), answer pushes (tasks, checks, inventory) or poll for
work (HTTP), and reconnect with backoff when dropped. Clean up afterwards with
``fleetload cleanup --target URL --admin-key KEY --run-id RUN_ID``.

The HTTP agents speak certctl's REST agent protocol (either profile of the
reference target, or certctl itself); the gRPC transport needs the reference
target's AgentIngest, which certctl has not: against it the run stops at the
preflight (exit 2), use ``--transport http``.
"""

from __future__ import annotations

from typing import Any

from fleetload import Duration, param, scenario
from fleetload.errors import ConfigError
from fleetload.fleet import Fleet, identity
from fleetload.fleet import metrics as fleet_metrics
from fleetload.fleet.agent import Agent
from fleetload.fleet.http_agent import HttpAgent
from fleetload.fleet.identity_sources import source_from_params

fleet_metrics.declare()

TRANSPORT = param("transport", str, default="grpc", help="grpc or http")
AGENTS = param("agents", int, default=1000, help="virtual agents")
DURATION = param("duration", Duration, default="0s", help="run length (0 = until Ctrl-C)")
RAMP = param("ramp", Duration, default="0s", help="start agents over this time")
REG_CONCURRENCY = param("registration_concurrency", int, default=32,
                        help="registrations in flight at most")
INTERVAL = param("heartbeat_interval", Duration, default="30s", help="heartbeat cadence")
JITTER = param("jitter", float, default=0.1, help="cadence jitter (fraction)")
FANOUT = param("conn_fanout", int, default=50, help="gRPC agents per channel")
POLL = param("work_poll_interval", Duration, default="60s", help="HTTP work poll cadence")
CHECK_FAIL = param("check_failure_rate", float, default=0.0, help="share of failing checks")
METRICS_JITTER = param("metrics_jitter", float, default=0.05,
                       help="largest step of the synthetic metrics' random walk (fraction)")
NO_TASKS = param("no_tasks", bool, default=False, help="ignore pushed tasks / work")
NO_CHECKS = param("no_checks", bool, default=False, help="ignore pushed checks")
NO_INVENTORY = param("no_inventory", bool, default=False, help="ignore inventory requests")
NO_TERMINAL = param("no_terminal", bool, default=False, help="ignore terminal session requests")
NO_QUERIES = param("no_queries", bool, default=False, help="ignore queries (list_ports, list_services)")
PREFIX = param("hostname_prefix", str, default="fl", help="hostnames <prefix>-<run-id>-<nnnnn>")
GRPC_TARGET = param("grpc_target", str, default=None,
                    help="HOST:PORT of the gRPC ingest (default: from the target)")
RTT_P95 = param("rtt_p95", float, default=1000.0, help="threshold: heartbeat rtt p95, ms")
IDENTITIES = param("identities", str, default=None,
                   help="directory of per-agent client certificates: <name>.crt + <name>.key "
                        "or <name>.pem + <name>-key.pem, agent i presents the i-th by name")
MINT_IDENTITIES = param("mint_identities", str, default=None,
                        help="CA_CERT,CA_KEY: mint each agent a client certificate for its "
                             "hostname, signed by this CA")
CONNECTIONS = param("connections", str, default="auto",
                    help="HTTP agents' connections: shared (the worker's pool), per-agent, per-beat "
                         "(default: shared; per-agent with client identities)")
SOURCE_ADDRESSES = param("source_addresses", str, default=None,
                         help="HTTP agents connect from these addresses (127.0.0.2-127.0.0.254, "
                              "a comma list, or a CIDR), agent i from address i mod n")
TOKEN = param("token", str, default=None)
TARGET = param("target", str, default=None)

if TRANSPORT not in ("grpc", "http"):
    raise ConfigError(f"--transport must be grpc or http, got {TRANSPORT!r}")

agent_class: type[Agent]
if TRANSPORT == "grpc":
    from fleetload.fleet.grpc_agent import GrpcAgent

    agent_class = GrpcAgent
else:
    agent_class = HttpAgent

thresholds = {
    "fleet_heartbeat_rtt": [f"p(95)<{RTT_P95:g}"],
    "fleet_heartbeat_failed": ["rate<0.01"],
}


@scenario(Fleet(agent=agent_class, agents=AGENTS, duration=DURATION, ramp=RAMP,
                registration_concurrency=REG_CONCURRENCY, heartbeat_interval=INTERVAL,
                jitter=JITTER, conn_fanout=FANOUT, work_poll_interval=POLL,
                check_failure_rate=CHECK_FAIL, metrics_jitter=METRICS_JITTER,
                tasks=not NO_TASKS, checks=not NO_CHECKS, inventory=not NO_INVENTORY,
                terminal=not NO_TERMINAL, queries=not NO_QUERIES,
                hostname_prefix=PREFIX, grpc_target=GRPC_TARGET, token=TOKEN,
                connections=CONNECTIONS, source_addresses=SOURCE_ADDRESSES,
                identities=source_from_params(IDENTITIES, MINT_IDENTITIES, agents=AGENTS),
                graceful_stop="10s"))
async def fleet(vu: Any) -> None:
    """Not called: the agents' behaviour lives in the Agent class."""


def handle_summary(summary: dict[str, Any], view: Any) -> dict[str, Any]:
    """Print where the run's agents are and how to remove them."""
    run_id = summary["run"]["id"]
    target = summary["meta"].get("target") or TARGET or "URL"
    command = f"fleetload cleanup --target {target} --admin-key KEY --run-id {run_id}"
    pattern = identity.hostname_filter(PREFIX, run_id)
    text = [f"agents are labelled run_id={run_id}, hostnames {pattern}",
            f"remove them: {command}",
            f"(servers without the cleanup endpoint: delete agents whose hostname matches {pattern})"]
    return {"fleet_cleanup": {"run_id": run_id, "command": command, "hostname_filter": pattern},
            "text_sections": {"cleanup": text}}
