"""--db-latency and --unhealthy-after-overload: a small pool made the binding
constraint on purpose, and /healthz reporting the overload for a while after."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from fleetplane.cli import target as target_cmd
from fleetplane.db.base import PoolStats
from fleetplane.db.shaping import OverloadWatch
from fleetplane.launch import RunningTarget, start_target
from fleetplane.timeutil import parse_duration

from .client import Api
from .conftest import API_KEY, BACKENDS, cert_body

POOL = 2
LATENCY_S = 0.03
HOLD_S = 1.0
BURST = 24


def test_parse_duration() -> None:
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1.5s") == 1.5 and parse_duration("2") == 2.0
    assert parse_duration("1m30s") == 90.0 and parse_duration("0") == 0.0
    assert parse_duration("1h") == 3600.0
    for bad in ("", "ms", "20 ms", "-1s", "1d", "abc"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_bad_duration_option_is_a_usage_error() -> None:
    r = CliRunner().invoke(target_cmd, ["--db-latency", "fast"])
    assert r.exit_code == 2 and "invalid duration" in r.output


def test_overload_watch_holds_after_the_queue_drains() -> None:
    now = [100.0]
    waiting = [0]
    w = OverloadWatch(lambda: PoolStats(2, 2, waiting[0]), threshold=2, hold_s=3.0, clock=lambda: now[0])
    assert w.unhealthy_for()[1] == 0.0
    waiting[0] = 2  # at the threshold: not over it
    assert w.unhealthy_for()[1] == 0.0
    waiting[0] = 3
    assert w.unhealthy_for()[1] == 3.0
    waiting[0] = 0
    now[0] += 1.0
    assert w.unhealthy_for()[1] == pytest.approx(2.0)
    now[0] += 2.5
    assert w.unhealthy_for()[1] == 0.0


@pytest.fixture(scope="module", params=BACKENDS)
def slow(request: pytest.FixtureRequest, new_database: Callable[[str], str]) -> Iterator[RunningTarget]:
    t = start_target(
        new_database(request.param), auth_secret=API_KEY, pool_size=POOL,
        extra_args=["--renewal-workers", "0", "--db-latency", f"{LATENCY_S * 1000:g}ms",
                    "--unhealthy-after-overload", str(HOLD_S)],
    )  # fmt: skip
    yield t
    t.stop()


def _waiting(api: Api) -> int:
    m = re.search(r"^fleetplane_db_pool_waiting (\S+)$", api.get("/metrics", key=None).body.decode(), re.M)
    assert m, "fleetplane_db_pool_waiting missing"
    return int(float(m.group(1)))


def test_burst_overloads_the_pool_then_health_recovers(slow: RunningTarget, uid: str) -> None:
    assert "db-latency=30ms" in slow.banner and "unhealthy-after-overload=1s" in slow.banner
    api = Api(slow.url, slow.api_key)
    assert api.get("/healthz", key=None).status == 200
    t0 = time.perf_counter()
    assert api.get("/readyz", key=None).status == 200  # one transaction: at least the latency
    assert time.perf_counter() - t0 >= LATENCY_S

    # A bounded burst: BURST concurrent creates on a pool of POOL, each
    # holding its connection >= 30 ms (0.36 s of work on PostgreSQL, 0.72 s on
    # SQLite, whose writes also serialize on the writer lock).
    with ThreadPoolExecutor(BURST) as ex:
        futures = [ex.submit(api.post, "/api/v1/certificates", cert_body(f"ovl-{uid}-{i}")) for i in range(BURST)]
        max_waiting, unhealthy = 0, None
        while not all(f.done() for f in futures):
            max_waiting = max(max_waiting, _waiting(api))
            h = api.get("/healthz", key=None)
            if h.status == 503 and (unhealthy is None or h.json["pool_waiting"] > unhealthy.json["pool_waiting"]):
                unhealthy = h
            time.sleep(0.02)
        statuses = [f.result().status for f in futures]
    t_done = time.perf_counter()
    assert statuses == [201] * BURST
    assert max_waiting > 0
    assert unhealthy is not None, "no 503 from /healthz during the burst"
    assert unhealthy.is_problem(503) and int(unhealthy.headers["retry-after"]) >= 1
    assert unhealthy.json["pool_waiting"] > POOL and "overloaded" in unhealthy.json["detail"]
    assert _waiting(api) == 0

    # Still 503 right after the queue drained, then 200 once HOLD_S passed.
    still = api.get("/healthz", key=None)
    assert still.is_problem(503), still.status
    assert 0 < still.json["healthy_in_s"] <= HOLD_S
    while (h := api.get("/healthz", key=None)).status == 503:
        assert time.perf_counter() - t_done < HOLD_S + 3, "still unhealthy long after the burst"
        time.sleep(0.05)
    assert h.status == 200 and h.json == {"status": "ok"}
    assert time.perf_counter() - t_done >= HOLD_S - 0.5  # the last overload was near the end
