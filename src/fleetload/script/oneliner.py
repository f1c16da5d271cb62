"""``fleetload run --url URL ...`` without a script, as with hey or wrk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetload.engine.executors import ConstantArrivalRate, ConstantVUs
from fleetload.engine.plan import Plan, Scenario
from fleetload.engine.vu import VU
from fleetload.errors import ConfigError
from fleetload.metrics.thresholds import parse_thresholds, validate_against
from fleetload.protocols.http.options import ClientOptions
from fleetload.redact import redact_url
from fleetload.script.loader import script_env
from fleetload.script.options import Overrides


@dataclass(frozen=True)
class OneLiner:
    """What to request; the schedule and headers come from the run's flags
    (:class:`Overrides`), as for a script."""

    url: str
    method: str = "GET"
    body: str | None = None


def parse_header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ConfigError(f"--header {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def oneliner_plan(spec: OneLiner, overrides: Overrides) -> Plan:
    if not spec.url.startswith(("http://", "https://")):
        raise ConfigError(f"--url {spec.url!r}: expected an http:// or https:// URL")
    if overrides.target is not None:
        raise ConfigError("--target sets the base of a script's relative paths; a one-liner "
                          "requests --url as given")
    if overrides.env:
        raise ConfigError("-e sets script variables; a one-liner has no script to read them")
    if overrides.duration is None:
        raise ConfigError("--url needs --duration (e.g. --duration 30s)")
    if (overrides.rate is None) == (overrides.vus is None):
        raise ConfigError("--url needs exactly one of --rate (open loop) or --vus (closed loop)")
    if overrides.rate is not None:
        executor: Any = ConstantArrivalRate(rate=overrides.rate, duration=overrides.duration,
                                            max_in_flight=overrides.max_in_flight or 0,
                                            graceful_stop=5.0)
    else:
        if overrides.max_in_flight is not None:
            raise ConfigError("--max-in-flight caps an open-loop (--rate) one-liner; "
                              "with --vus the VUs are the cap")
        executor = ConstantVUs(vus=int(overrides.vus or 0), duration=overrides.duration,
                               graceful_stop=5.0)
    method = spec.method.upper()
    url = spec.url
    body = spec.body.encode() if spec.body is not None else None

    if body is None:
        async def default(vu: VU) -> None:
            await vu.http.request(method, url)
    else:
        async def default(vu: VU) -> None:
            await vu.http.request(method, url, body=body)

    # The same headers on every request: client defaults, so the request bytes
    # are built once and reused.
    client = overrides.apply_client(ClientOptions())
    raw_thresholds: dict[str, list[Any]] = {}
    for selector, expr in overrides.thresholds:
        raw_thresholds.setdefault(selector, []).append(expr)
    plan = Plan(source=f"{method} {redact_url(url)}",
                scenarios=[Scenario("default", default, executor)],
                thresholds=parse_thresholds(raw_thresholds), client=client,
                env=script_env(overrides))
    validate_against(plan.thresholds, plan.kind_of)
    return plan
