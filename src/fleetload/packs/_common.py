"""Helpers shared by the built-in packs (not a pack itself: the leading underscore
keeps it out of ``fleetload run``/``fleetload init --list``).

Fixture checks and seeding. The certctl load-test fixture is certificates
``loadtest-bulk-NNNNN`` and agents ``ag-loadtest-NNNNN``. A pack either seeds it
(``--seed``: through the target's API with the run's own client, so ``--token``,
``--insecure`` and ``--ca-cert`` apply; or ``--seed sqlite:///...``/
``--seed postgresql://...``: the reference target's database directly) or checks
that it is there and refuses to start with the command that fixes it.

Targets differ in how they answer (docs/target.md: the fleetplane and certctl
profiles): error bodies are read in either shape, seeding skips what a listing
shows is there (certctl answers a duplicate name with a 500), and 429s from a
rate-limited target are waited out for up to a minute before the set-up gives
up with a line saying what to raise.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Mapping
from typing import Any

from fleetload.errors import ConfigError
from fleetload.fleet.http_agent import error_text

CERT_PREFIX = "loadtest-bulk-"
AGENT_PREFIX = "ag-loadtest-"
LIST_PAGE = 500
RETRY_429_S = 60.0
"""How long a set-up request keeps retrying 429 answers."""


def agent_id(i: int) -> str:
    """The seeded agent number ``i`` (1-based): ``ag-loadtest-00042``."""
    return f"{AGENT_PREFIX}{i:05d}"


def cert_name(i: int) -> str:
    return f"{CERT_PREFIX}{i:05d}"


def say(message: str) -> None:
    """A line on stderr, beside the engine's own start-up lines."""
    print(message, file=sys.stderr, flush=True)


def seed_command(*, certs: int = 0, agents: int = 0, target: str | None = None) -> str:
    where = target or "URL"
    return (f"fleetload seed --target {where} --token KEY --certs {certs} --agents {agents}"
            f" (or add --seed to this run)")


def _problem(resp: Any) -> str:
    """``HTTP 404: <what the body says>`` (RFC 7807 or certctl's error shape)."""
    if resp.status == 0:
        return f"{resp.error}"
    detail = error_text(resp)
    return f"HTTP {resp.status}" + (f": {detail}" if detail else "")


async def call(http: Any, method: str, path: str, *, json_body: Any = None,
               ok: tuple[int, ...] = (200,)) -> Any:
    """One request from ``setup()``/``teardown()`` (``ctx.http``), retrying 429s
    for up to :data:`RETRY_429_S` (honouring ``Retry-After``, capped at 2 s a
    wait). Returns the response; a status outside ``ok`` (and 401/403 always)
    is a :class:`ConfigError`."""
    kwargs: dict[str, Any] = {} if json_body is None else {"json": json_body}
    deadline = time.monotonic() + RETRY_429_S
    while True:
        resp = await http.request(method, path, **kwargs)
        if resp.status != 429 or time.monotonic() > deadline:
            break
        try:
            wait = float(resp.headers.get("retry-after") or 1)
        except ValueError:
            wait = 1.0
        await asyncio.sleep(min(max(wait, 0.05), 2.0))
    if resp.status == 429:
        raise ConfigError(f"{method} {path}: the target answered 429 Too Many Requests for "
                          f"{RETRY_429_S:.0f}s: its rate limiter is below what the set-up needs; "
                          "raise it or turn it off for the test (certctl: CERTCTL_RATE_LIMIT_RPS/"
                          "_BURST, or CERTCTL_RATE_LIMIT_ENABLED=false)")
    if resp.status in (401, 403):
        raise ConfigError(f"{method} {path}: the target refused the API key ({_problem(resp)}); "
                          "pass it with --token KEY")
    if resp.status not in ok:
        raise ConfigError(f"{method} {path}: {_problem(resp)}")
    return resp


# -- fixture checks --------------------------------------------------------------------
async def require_agents(http: Any, agents: int, *, target: str | None) -> None:
    """Refuse to run unless ``ag-loadtest-00001`` .. ``ag-loadtest-<agents>`` exist
    (the first and the last are probed)."""
    for i in sorted({1, agents}):
        resp = await call(http, "GET", f"/api/v1/agents/{agent_id(i)}", ok=(200, 404))
        if resp.status == 404:
            raise ConfigError(f"the target has no agent {agent_id(i)}: this pack needs the "
                              f"{agents}-agent fixture; seed it with: "
                              + seed_command(agents=agents, target=target))


async def list_all(http: Any, path: str, *, limit: int | None = None,
                   keep: Any = None) -> list[dict[str, Any]]:
    """Every item of a certctl page listing (``{data,total,page,per_page}``),
    following pages; ``keep(item)`` filters, ``limit`` stops early."""
    out: list[dict[str, Any]] = []
    page = 1
    sep = "&" if "?" in path else "?"
    while True:
        resp = await call(http, "GET", f"{path}{sep}per_page={LIST_PAGE}&page={page}")
        body = resp.json()
        data = body.get("data") or []
        for item in data:
            if keep is None or keep(item):
                out.append(item)
                if limit is not None and len(out) >= limit:
                    return out
        per_page = int(body.get("per_page") or len(data) or LIST_PAGE)
        total = int(body.get("total") or 0)
        if not data or page * per_page >= total:
            return out
        page += 1


async def seeded_certificates(http: Any, certs: int, *, target: str | None) -> list[dict[str, Any]]:
    """The ``loadtest-bulk-*`` certificates (at most ``certs``, in name order);
    refuses to run when there are fewer than ``certs``."""

    def is_fixture(item: Mapping[str, Any]) -> bool:
        return str(item.get("name", "")).startswith(CERT_PREFIX)

    # Fast path: the seed's environment; then the whole listing (servers whose
    # fixture has no environment, or that ignore the filter).
    found = await list_all(http, "/api/v1/certificates?environment=loadtest",
                           keep=is_fixture)
    if len(found) < certs:
        found = await list_all(http, "/api/v1/certificates", keep=is_fixture)
    found.sort(key=lambda c: str(c["name"]))
    if len(found) < certs:
        raise ConfigError(f"the target has {len(found)} of the {certs} seeded certificates "
                          f"{cert_name(1)}.. this pack needs; seed them with: "
                          + seed_command(certs=certs, target=target))
    return found[:certs]


# -- seeding ---------------------------------------------------------------------------
def seed_mode(value: str | None) -> str | None:
    """``--seed`` given bare (``"true"``) means the API; a database URL means
    direct seeding; absent or ``false`` means no seeding."""
    if value is None or value.lower() in ("", "0", "false", "no", "off"):
        return None
    if value.lower() in ("1", "true", "yes", "on", "api"):
        return "api"
    if value.startswith(("sqlite:", "postgresql:", "postgres:")):
        return value
    raise ConfigError(f"--seed: expected no value (seed through the API) or a database URL "
                      f"(sqlite:///path.db, postgresql://...), got {value!r}")


async def seed(http: Any, mode: str, *, certs: int = 0, agents: int = 0,
               concurrency: int = 32) -> None:
    """Seed ``certs`` certificates and ``agents`` agents, idempotently."""
    if mode == "api":
        await seed_via_api(http, certs=certs, agents=agents, concurrency=concurrency)
        return
    from fleetplane.seed import seed_database

    result = await asyncio.to_thread(seed_database, mode, certs=certs, agents=agents)
    say(f"--seed: {result.summary()}")


async def seed_via_api(http: Any, *, certs: int, agents: int, concurrency: int = 32) -> None:
    """POST the fixture through the certctl API with the run's client, skipping
    what the listings show is there (idempotent on certctl too, which answers a
    duplicate certificate name with a 500); a 409 (a race) counts as there.
    Field values are the reference seed's."""
    from fleetplane.seed import agent_fields, cert_fields
    from fleetplane.timeutil import now

    start = time.perf_counter()
    t = now()
    counts = {"certificates": [0, 0], "agents": [0, 0]}
    have: set[str] = set()
    if certs:
        have |= {str(c.get("name")) for c in await list_all(http, "/api/v1/certificates")}
    if agents:
        have |= {str(a.get("id")) for a in await list_all(http, "/api/v1/agents")}

    async def post(kind: str, path: str, body: dict[str, Any]) -> None:
        if str(body.get("id") or body["name"]) in have:
            counts[kind][1] += 1
            return
        resp = await call(http, "POST", path, json_body=body, ok=(201, 409))
        counts[kind][0 if resp.status == 201 else 1] += 1

    async def run(kind: str, path: str, bodies: list[dict[str, Any]]) -> None:
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                await post(kind, path, json.loads(json.dumps(body)))

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    await run("certificates", "/api/v1/certificates",
              [cert_fields(i, certs, t) for i in range(1, certs + 1)])
    await run("agents", "/api/v1/agents", [agent_fields(i) for i in range(1, agents + 1)])
    c, a = counts["certificates"], counts["agents"]
    say(f"--seed: seeded via api in {time.perf_counter() - start:.2f}s: certificates added {c[0]}, "
        f"skipped {c[1]}; agents added {a[0]}, skipped {a[1]}")


# -- summary helpers -------------------------------------------------------------------
def trend_brief(values: Mapping[str, float] | None, *, scale: float = 1.0) -> dict[str, float] | None:
    """p50/p95/p99 (+avg, max, count) of a trend's k6 values."""
    if not values or not values.get("count"):
        return None
    keys = {"p50": "med", "p95": "p(95)", "p99": "p(99)", "avg": "avg", "max": "max"}
    out = {k: round(values[v] * scale, 3) for k, v in keys.items() if v in values}
    out["count"] = values["count"]
    return out


_TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)", "count")


def add_scenario_metrics(summary: dict[str, Any], view: Any) -> None:
    """Add ``metric{scenario:x}`` entries to ``summary["metrics"]`` for the
    script's own metrics (the engine writes them for its built-in ones), so a
    pack's metrics are reported per scenario, never only as an aggregate."""
    from fleetload.metrics.kinds import BUILTIN

    metrics = summary.get("metrics", {})
    for name, entry in list(metrics.items()):
        if "{" in name or name in BUILTIN:
            continue
        for sc in view.tag_values(name, "scenario"):
            key = f"{name}{{scenario:{sc}}}"
            values = view.values(name, {"scenario": sc}, percentiles=(99.9,))
            if key in metrics or values is None:
                continue
            if entry.get("type") == "trend":
                values = {k: values[k] for k in _TREND_STATS if k in values}
            metrics[key] = {"type": entry.get("type"), "contains": entry.get("contains"),
                            "values": values}
