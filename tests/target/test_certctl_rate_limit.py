"""The certctl profile's rate limiter: on by default (50/s, burst 100), one
bucket per client IP, probes in their own buckets, certctl's 429, and its
settings from flags and CERTCTL_RATE_LIMIT_* (the fleetplane profile has none
unless asked)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from fleetplane.launch import RunningTarget, start_target
from fleetplane.profile import CERTCTL, FLEETPLANE
from fleetplane.profile_settings import profile_settings

from .client import Api


def burst(api: Api, n: int, path: str = "/api/v1/certificates?per_page=1") -> tuple[list[int], float]:
    """``n`` requests back to back; their statuses and how long they took."""
    t0 = time.monotonic()
    statuses = [api.get(path).status for _ in range(n)]
    return statuses, time.monotonic() - t0


@pytest.fixture(scope="module")
def default_certctl(new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    """The certctl profile as it starts: limiter on, 50/s, burst 100."""
    with start_target(new_database("sqlite"), profile="certctl") as t:
        yield t


def test_limiter_on_by_default(default_certctl: RunningTarget) -> None:
    assert "rate-limit=50/s burst 100 per client" in default_certctl.banner
    api = Api(default_certctl.url, default_certctl.api_key)
    statuses, took = burst(api, 160)
    served = statuses.count(200)
    # A full bucket of 100, plus what 50/s refills while the burst runs.
    assert 100 <= served <= 100 + 50 * took + 1, (served, took)
    assert statuses.count(429) == 160 - served
    # The bucket refills one token per 20 ms: the next refusal comes within a few requests.
    r = next(x for x in (api.get("/api/v1/certificates?per_page=1") for _ in range(50))
             if x.status != 200)
    assert r.is_certctl_text(429, "Rate limit exceeded")
    assert r.headers["retry-after"] == "1" and r.headers["x-request-id"]
    # Unauthenticated requests spend tokens too: the limiter runs before auth, so an
    # empty bucket answers them 429, not 401.
    unauth = [api.get("/api/v1/certificates", key=None).status for _ in range(20)]
    assert 429 in unauth and set(unauth) <= {401, 429}


def test_buckets_are_per_client_ip(default_certctl: RunningTarget) -> None:
    first = Api(default_certctl.url, default_certctl.api_key)
    statuses, _ = burst(first, 150)
    # this client's bucket runs dry (a refilled token may still serve the odd request)
    assert 429 in statuses[100:]
    # Probes have buckets of their own (certctl's second limiter) ...
    assert first.get("/health", key=None).status == 200
    # ... and another address is another client with a full bucket.
    other = Api(default_certctl.url, default_certctl.api_key, source_ip="127.0.0.2")
    statuses, _ = burst(other, 20)
    assert statuses == [200] * 20


def test_limiter_metrics_count_429s(default_certctl: RunningTarget) -> None:
    api = Api(default_certctl.url, default_certctl.api_key, source_ip="127.0.0.3")
    statuses, _ = burst(api, 130)
    refused = statuses.count(429)
    assert refused > 0
    time.sleep(1.1)  # refill a token for the scrape
    text = api.get("/api/v1/metrics/prometheus").body.decode()
    line = next(x for x in text.splitlines() if x.startswith("fleetplane_http_rate_limited_total "))
    assert float(line.split()[1]) >= refused


def test_certctl_environment_sets_the_limiter(new_database: Callable[[str], str]) -> None:
    env = {**os.environ, "CERTCTL_RATE_LIMIT_RPS": "2", "CERTCTL_RATE_LIMIT_BURST": "5"}
    with start_target(new_database("sqlite"), profile="certctl", env=env) as t:
        assert "rate-limit=2/s burst 5 per client" in t.banner
        statuses, took = burst(Api(t.url, t.api_key), 12)
        assert 5 <= statuses.count(200) <= 5 + 2 * took + 1
    env = {**os.environ, "CERTCTL_RATE_LIMIT_ENABLED": "false"}
    with start_target(new_database("sqlite"), profile="certctl", env=env) as t:
        assert "rate-limit=off" in t.banner
        statuses, _ = burst(Api(t.url, t.api_key), 150)
        assert statuses == [200] * 150


def test_flags_win_over_the_environment(new_database: Callable[[str], str]) -> None:
    env = {**os.environ, "CERTCTL_RATE_LIMIT_ENABLED": "false"}
    with start_target(new_database("sqlite"), profile="certctl", env=env, rate_limit=3,
                      rate_limit_burst=4) as t:  # fmt: skip
        assert "rate-limit=3/s burst 4 per client" in t.banner
        statuses, _ = burst(Api(t.url, t.api_key), 8)
        assert statuses[:4] == [200] * 4 and 429 in statuses


def test_fleetplane_has_no_limiter_by_default(api: Api, target: RunningTarget) -> None:
    assert "rate-limit" not in target.banner
    statuses, _ = burst(api, 150)
    assert statuses == [200] * 150


def test_fleetplane_ignores_certctl_variables() -> None:
    env = {"CERTCTL_RATE_LIMIT_ENABLED": "true", "CERTCTL_RATE_LIMIT_RPS": "oops",
           "CERTCTL_KEYGEN_MODE": "agent"}  # fmt: skip
    s = profile_settings(FLEETPLANE, rate_limit=None, rate_limit_burst=None, no_rate_limit=False,
                         keygen_mode=None, renewal_check_interval=None, env=env)  # fmt: skip
    assert (s.rate_limit, s.keygen_mode, s.renewal_check_interval) == (None, "server", None)
    s = profile_settings(CERTCTL, rate_limit=None, rate_limit_burst=None, no_rate_limit=True,
                         keygen_mode="server", renewal_check_interval=0.0, env={})  # fmt: skip
    assert (s.rate_limit, s.keygen_mode, s.renewal_check_interval) == (None, "server", None)
    s = profile_settings(CERTCTL, rate_limit=None, rate_limit_burst=None, no_rate_limit=False,
                         keygen_mode=None, renewal_check_interval=None, env={})  # fmt: skip
    assert (s.rate_limit, s.rate_limit_burst, s.keygen_mode, s.renewal_check_interval) == (
        50.0, 100, "agent", 3600.0)  # fmt: skip
