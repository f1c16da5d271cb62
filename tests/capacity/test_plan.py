"""Fleet sizing arithmetic (pure) and the ``plan`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetload.capacity.plan import (
    Fleet,
    about,
    load_ceiling,
    offered_load,
    parse_span,
    with_ceilings,
)
from fleetload.errors import ConfigError

from .conftest import run_cli

DAY = 86400.0


def test_offered_load_arithmetic() -> None:
    plan = offered_load(Fleet(agents=10_000, heartbeat_interval=60, work_poll_interval=30,
                              certs=50_000, validity=47 * DAY, renew_before="30%", api_rps=5))
    per = {line.endpoint: line.per_second for line in plan.lines}
    assert per["heartbeat"] == pytest.approx(10_000 / 60)
    assert per["work-poll"] == pytest.approx(10_000 / 30)
    # renewed every 47 d x 0.7 = 32.9 d -> 50,000 / 32.9 per day
    assert plan.renewal_period == pytest.approx(47 * DAY * 0.7)
    assert per["renewal"] * DAY == pytest.approx(50_000 / 32.9)
    assert per["api"] == 5
    assert plan.total == pytest.approx(sum(per.values()))
    assert "10,000 agents / 60s = 167/s" in plan.lines[0].formula


@pytest.mark.parametrize(("renew", "period_days"), [("30%", 32.9), ("0.5", 23.5), ("10d", 37.0)])
def test_renew_before_forms(renew: str, period_days: float) -> None:
    plan = offered_load(Fleet(agents=0, certs=1000, validity=47 * DAY, renew_before=renew))
    assert plan.renewal_period == pytest.approx(period_days * DAY)


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError):
        offered_load(Fleet(agents=10))
    with pytest.raises(ConfigError):
        offered_load(Fleet(agents=0, certs=10, validity=47 * DAY, renew_before="47d"))
    with pytest.raises(ConfigError):
        offered_load(Fleet(agents=0, certs=10))
    assert parse_span("47d", what="x") == 47 * DAY
    assert parse_span("1d12h", what="x") == 1.5 * DAY


def test_about_rounds_down_to_two_digits() -> None:
    assert about(10_499) == "10,000"
    assert about(37_912.4) == "37,000"
    assert about(7.9) == "7"


def _ceiling(tmp_path: Path, rate: float, constraint: str | None = "database pool 5/5 in use",
             status: str = "found") -> Path:
    p = tmp_path / f"c{rate}.json"
    p.write_text(json.dumps({"ceiling_rate": rate, "status": status, "broken_slos": ["p(99)<1"],
                             "constraint": {"text": constraint, "kind": "db-pool"}
                             if constraint else None}))
    return p


def test_capacity_sentence(tmp_path: Path) -> None:
    plan = offered_load(Fleet(agents=10_000, heartbeat_interval=60, certs=50_000,
                              validity=47 * DAY))
    plan = with_ceilings(plan, [load_ceiling(f"heartbeat={_ceiling(tmp_path, 500)}")])
    assert plan.capacity is not None
    assert plan.capacity["headroom"] == pytest.approx(3.0)
    assert plan.capacity["sentence"] == (
        "supports about 30,000 agents / 150,000 certificates at this cadence, limited by "
        "heartbeats at 500/s — database pool 5/5 in use")


def test_smallest_headroom_limits(tmp_path: Path) -> None:
    plan = offered_load(Fleet(agents=1000, heartbeat_interval=10, work_poll_interval=10))
    plan = with_ceilings(plan, [load_ceiling(f"heartbeat={_ceiling(tmp_path, 1000)}"),
                                load_ceiling(f"work-poll={_ceiling(tmp_path, 200, None)}")])
    assert plan.capacity is not None
    assert plan.capacity["limited_by"]["endpoint"] == "work-poll"
    assert "supports about 2,000 agents at this cadence, limited by work polls at 200/s" \
        in plan.capacity["sentence"]


def test_plan_cli(tmp_path: Path) -> None:
    r = run_cli("plan", "--agents", "10000", "--heartbeat-interval", "60s",
                "--work-poll-interval", "30s", "--certs", "50000", "--validity", "47d",
                "--renew-before", "30%", "--ceiling", str(_ceiling(tmp_path, 1000)), "--json")
    assert r.code == 0, r.stderr
    data = r.json()
    assert data["total_per_second"] == pytest.approx(10_000 / 60 + 10_000 / 30 + 50_000 / (32.9 * DAY))
    cap = data["capacity"]
    assert isinstance(cap, dict) and cap["sentence"].startswith("supports about 19,000 agents")
    text = run_cli("plan", "--agents", "100", "--heartbeat-interval", "10s")
    assert text.code == 0 and "100 agents / 10s = 10/s" in text.stdout
    bad = run_cli("plan", "--agents", "100", "--certs", "5")
    assert bad.code == 2 and "--validity" in bad.stderr
