"""connector-tier: a new TCP+TLS connection and a tiny request, 100 a minute, against each deployment target.

Models the connector tier of a certificate fleet: after a renewal, a connector
(or a monitoring probe) opens a fresh connection to every deployment target -
nginx, HAProxy, a load balancer - to confirm it serves the new certificate.
What matters is the cost of a NEW connection: every iteration opens its own
TCP connection and TLS session (``options = {"keep_alive": False}``) and sends
one small request (``GET --path``, default ``/``).

One scenario per target, named after it, each at ``--connections-per-minute``
(100) for 5 minutes, their arrivals interleaved (target i starts i/n of an
interval after the first). Targets are ``NAME=URL`` pairs, comma separated:

    fleetload run connector-tier --endpoints nginx=https://10.0.0.5:443,haproxy=https://10.0.0.6:443
    fleetload run connector-tier --endpoint nginx=https://127.0.0.1:9443 --ca-cert ca.pem

(``--endpoint`` takes one pair and is added to ``--endpoints``; a flag given
twice keeps only its last value.) Contract per target: the whole connection
(TCP connect + TLS handshake + request) p95 < 1 s and p99 < 3 s
(``--p95``/``--p99``, or per target with ``--slo nginx:p95=500ms:p99=2s,haproxy:p99=1s``)
and fewer than 1 % failed. The ``connector_tier`` summary section breaks out
each target's connect, handshake and request times, error rate and iterations.
TLS trust comes from the engine's ``--insecure`` / ``--ca-cert``.
"""

from __future__ import annotations

import re
from typing import Any

from fleetload import VU, ConfigError, Duration, Trend, check, param
from fleetload.packs import _common

ENDPOINTS = param("endpoints", str, help="NAME=URL[,NAME=URL...]")
ENDPOINT = param("endpoint", list, default=[], help="NAME=URL (repeatable)")
PER_MINUTE = param("connections_per_minute", float, default=100.0,
                   help="new connections per minute, per target")
DURATION = param("duration", Duration, default="5m")
PATH = param("path", str, default="/", help="the request sent on each connection")
P95 = param("p95", Duration, default="1s", help="p95 bound of the whole connection")
P99 = param("p99", Duration, default="3s", help="p99 bound of the whole connection")
SLO = param("slo", str, help="per-target bounds: NAME:p95=DUR:p99=DUR[,...]")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def parse_endpoints(*specs: str | None) -> dict[str, str]:
    """``"nginx=https://a:443,haproxy=https://b:443"`` -> {name: url}, in order."""
    out: dict[str, str] = {}
    for spec in specs:
        for item in (spec or "").split(","):
            item = item.strip()
            if not item:
                continue
            name, eq, url = item.partition("=")
            name, url = name.strip(), url.strip()
            if not eq or not _NAME.match(name) or not url.startswith(("https://", "http://")):
                raise ConfigError(f"--endpoints: expected NAME=https://host:port, got {item!r}")
            if name in out:
                raise ConfigError(f"--endpoints: {name!r} given twice")
            out[name] = url.rstrip("/")
    return out


def parse_slo(spec: str | None, names: dict[str, str]) -> dict[str, dict[str, float]]:
    """``"nginx:p95=500ms:p99=2s"`` -> {"nginx": {"p95": 0.5, "p99": 2.0}} (seconds)."""
    from fleetload.durations import parse_duration

    out: dict[str, dict[str, float]] = {name: {"p95": P95, "p99": P99} for name in names}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        name, *bounds = item.strip().split(":")
        if name not in out:
            raise ConfigError(f"--slo: {name!r} is not one of the endpoints ({', '.join(names)})")
        for bound in bounds:
            key, eq, value = bound.partition("=")
            if key not in ("p95", "p99") or not eq:
                raise ConfigError(f"--slo: expected p95=DUR or p99=DUR, got {bound!r}")
            out[name][key] = parse_duration(value, what=f"--slo {name}:{key}")
    return out


TARGETS = parse_endpoints(ENDPOINTS, *ENDPOINT)
if not TARGETS:
    raise ConfigError("connector-tier needs its targets: --endpoints NAME=URL[,NAME=URL...], "
                      "e.g. --endpoints nginx=https://127.0.0.1:9443,haproxy=https://127.0.0.1:9444")
BOUNDS = parse_slo(SLO, TARGETS)

options = {"keep_alive": False}  # a new TCP connection and TLS handshake every time

# One scenario per target, all running the same function (k6's dict form).
# Their arrivals interleave: target i starts i/n of an interval after the first,
# so the generator never opens every target's connection in the same instant
# (n handshakes back to back would delay the last ones' starts).
_SPACING = 60.0 / PER_MINUTE / len(TARGETS) if PER_MINUTE > 0 else 0.0
scenarios = {
    name: {"executor": "constant-arrival-rate", "exec": "connect", "rate": PER_MINUTE,
           "time_unit": "1m", "duration": DURATION, "start_time": round(i * _SPACING, 6),
           "tags": {"endpoint": name}}
    for i, name in enumerate(TARGETS)
}

connection_time = Trend("connector_connection_time",
                        description="TCP connect + TLS handshake + request, ms")

thresholds: dict[str, list[Any]] = {}
for _name, _b in BOUNDS.items():
    thresholds[f"connector_connection_time{{scenario:{_name}}}"] = [
        f"p(95)<{_b['p95'] * 1000:g}", f"p(99)<{_b['p99'] * 1000:g}"]
    thresholds[f"http_req_failed{{scenario:{_name}}}"] = ["rate<0.01"]


async def connect(vu: VU) -> None:
    r = await vu.http.get(TARGETS[vu.scenario] + PATH, name="connect")
    t = r.timings
    if r.error is None:
        connection_time.add((t.connecting + t.tls_handshaking + t.duration) * 1000.0)
    check(r, {"answered": lambda r: r.error is None and 0 < r.status < 500})


def handle_summary(summary: dict[str, Any], view: Any) -> dict[str, Any]:
    """A ``connector_tier`` section: per target, handshake apart from the request."""
    _common.add_scenario_metrics(summary, view)
    out: dict[str, Any] = {}
    for name, url in TARGETS.items():
        tags = {"scenario": name}
        iterations = view.values("iterations", tags)
        failed = view.values("http_req_failed", tags)
        out[name] = {
            "url": url,
            "iterations": iterations["count"] if iterations else 0.0,
            "error_rate": failed["rate"] if failed else None,
            "connect_ms": _common.trend_brief(view.values("http_req_connecting", tags)),
            "tls_handshake_ms": _common.trend_brief(view.values("http_req_tls_handshaking", tags)),
            "request_ms": _common.trend_brief(view.values("http_req_duration", tags)),
            "connection_ms": _common.trend_brief(view.values("connector_connection_time", tags)),
            "contract": {"p95_ms": BOUNDS[name]["p95"] * 1000, "p99_ms": BOUNDS[name]["p99"] * 1000,
                         "error_rate": 0.01},
        }
    return {"connector_tier": out}
