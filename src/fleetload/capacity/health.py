"""Cooldown gating: the next ceiling step starts on a recovered target, not on
one still draining the previous step's queue.

Healthy means both:

* the health URL answers 2xx (a target that sheds load or restarts says so), and
* light probe traffic — ``probes`` sequential GETs of the same URL — has a
  median latency back near the baseline measured before the first step:
  ``<= baseline * factor`` or ``<= baseline + slack``, whichever is looser
  (a 0.3 ms baseline would otherwise demand an impossible 0.45 ms).

The gate polls every ``interval`` seconds up to ``max_wait``; when the target
never recovers, the step still runs but is marked so (``recovered: false``).

Before the first step the URL must answer 2xx (:func:`choose_health_url`): a
gate on an endpoint the target does not serve would wait out ``max_wait``
before every step. Without ``--health-url`` the usual paths are tried in
order (:data:`HEALTH_PATHS`) and the first to answer 2xx is used.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from statistics import median
from typing import Any

from fleetload.errors import ConfigError
from fleetload.protocols.http.options import ClientOptions, new_client
from fleetload.redact import redact_url

HEALTH_PATHS = ("/healthz", "/health", "/readyz", "/ready", "/livez")
"""Tried in this order when no ``--health-url`` is given."""


@dataclass
class Probe:
    ok: bool
    status: int
    median_ms: float | None
    error: str | None = None


@dataclass
class CooldownResult:
    waited_s: float
    recovered: bool
    polls: int
    last: Probe | None

    def to_json(self) -> dict[str, Any]:
        last = self.last
        return {"waited_s": round(self.waited_s, 3), "recovered": self.recovered,
                "polls": self.polls,
                "last_status": last.status if last else None,
                "last_probe_ms": last.median_ms if last else None}


def probe_options(*, insecure: bool = False, ca_file: str | None = None,
                  client_cert: str | None = None, client_key: str | None = None,
                  timeout: float = 5.0) -> ClientOptions:
    return ClientOptions(insecure=insecure, ca_file=ca_file, client_cert=client_cert,
                         client_key=client_key, timeout=timeout, read_timeout=timeout,
                         connect_timeout=timeout)


async def answer(url: str, opts: ClientOptions) -> tuple[bool, str]:
    """One GET: whether it answered 2xx, and the status or error as text."""
    client = new_client(opts)
    try:
        resp = await client.request("GET", url, timeout=opts.timeout)
    finally:
        await client.close()
    if resp.error is not None:
        return False, str(resp.error)
    return 200 <= resp.status < 300, str(resp.status)


@dataclass
class HealthChoice:
    url: str
    chosen_by: str  # "--health-url" or "discovery"
    tried: list[tuple[str, str]]  # (URL, status or error) in order

    def to_json(self) -> dict[str, Any]:
        return {"chosen_by": self.chosen_by,
                "tried": [{"url": redact_url(u), "answer": a} for u, a in self.tried]}

    def line(self) -> str:
        shown = redact_url(self.url)
        if self.chosen_by != "discovery":
            return f"health: --health-url {shown} answers 2xx"
        before = ", ".join(f"{_path(u)} answered {a}" for u, a in self.tried[:-1])
        return (f"health: using {shown}, the first of {', '.join(HEALTH_PATHS)} to answer 2xx"
                + (f" ({before})" if before else ""))


def _path(url: str) -> str:
    return next((p for p in HEALTH_PATHS if url.endswith(p)), url)


async def choose_health_url(explicit: str | None, base: str | None,
                            opts: ClientOptions) -> HealthChoice:
    """The cooldown gate's URL, checked to answer 2xx now (ConfigError otherwise)."""
    if explicit is not None:
        ok, got = await answer(explicit, opts)
        if not ok:
            raise ConfigError(f"--health-url {redact_url(explicit)} answered {got}, not 2xx, "
                              "before the first step: give a --health-url the target answers "
                              "2xx on when healthy, or --no-cooldown")
        return HealthChoice(explicit, "--health-url", [(explicit, got)])
    if base is None:
        raise ConfigError("no target known for the cooldown gate: give --target, "
                          "--health-url or --no-cooldown")
    tried: list[tuple[str, str]] = []
    for path in HEALTH_PATHS:
        url = base.rstrip("/") + path
        ok, got = await answer(url, opts)
        tried.append((url, got))
        if ok:
            return HealthChoice(url, "discovery", tried)
    seen = ", ".join(f"{_path(u)} {a}" for u, a in tried)
    raise ConfigError(f"no health endpoint of {redact_url(base)} answered 2xx (tried {seen}): "
                      "give --health-url URL, or --no-cooldown")


class HealthGate:
    def __init__(self, url: str, *, probes: int = 5, factor: float = 1.5, slack_ms: float = 5.0,
                 max_wait: float = 120.0, interval: float = 1.0, insecure: bool = False,
                 ca_file: str | None = None, client_cert: str | None = None,
                 client_key: str | None = None, timeout: float = 5.0,
                 choice: HealthChoice | None = None) -> None:
        self.url = url
        self.choice = choice
        self.display = redact_url(url) or url
        self.probes = max(probes, 1)
        self.factor = factor
        self.slack_ms = slack_ms
        self.max_wait = max_wait
        self.interval = interval
        self.timeout = timeout
        self.baseline_ms: float | None = None
        self._opts = probe_options(insecure=insecure, ca_file=ca_file, client_cert=client_cert,
                                   client_key=client_key, timeout=timeout)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.display, "baseline_ms": self.baseline_ms,
                               "limit_ms": self.limit_ms, "max_wait_s": self.max_wait}
        if self.choice is not None:
            out.update(self.choice.to_json())
        return out

    @property
    def limit_ms(self) -> float | None:
        if self.baseline_ms is None:
            return None
        return max(self.baseline_ms * self.factor, self.baseline_ms + self.slack_ms)

    async def probe(self) -> Probe:
        # A fresh client per probe round: a connection left half-dead by the
        # overload must not make a recovered target look sick.
        client = new_client(self._opts)
        try:
            times: list[float] = []
            status = 0
            for _ in range(self.probes):
                t0 = time.perf_counter()
                resp = await client.request("GET", self.url, timeout=self.timeout)
                elapsed = (time.perf_counter() - t0) * 1000.0
                status = resp.status
                if resp.error is not None or not 200 <= resp.status < 300:
                    return Probe(False, resp.status, None, resp.error)
                times.append(elapsed)
            return Probe(True, status, median(times))
        finally:
            await client.close()

    async def measure_baseline(self) -> Probe:
        """Before the first step: the target idle. Takes the best of three rounds,
        so a cold first connection does not set a lax baseline."""
        best: Probe | None = None
        for _ in range(3):
            p = await self.probe()
            if p.ok and p.median_ms is not None and (best is None or best.median_ms is None
                                                     or p.median_ms < best.median_ms):
                best = p
        if best is None:
            best = await self.probe()
        if best.ok:
            self.baseline_ms = best.median_ms
        return best

    def healthy(self, p: Probe) -> bool:
        if not p.ok:
            return False
        limit = self.limit_ms
        return limit is None or (p.median_ms is not None and p.median_ms <= limit)

    async def wait_recovered(self) -> CooldownResult:
        start = time.perf_counter()
        polls = 0
        last: Probe | None = None
        while True:
            polls += 1
            last = await self.probe()
            waited = time.perf_counter() - start
            if self.healthy(last):
                return CooldownResult(waited, True, polls, last)
            if waited >= self.max_wait:
                return CooldownResult(waited, False, polls, last)
            await asyncio.sleep(min(self.interval, max(self.max_wait - waited, 0.0)))
