"""Rates are iterations per second whatever the script's ``time_unit``.

agent-storm's scenario is ``ConstantArrivalRate(rate=AGENTS, time_unit=30s)``:
an override of its rate must schedule that many iterations a second, in
``fleetload run --rate`` and in every ceiling step, and what the ceiling
reports must be what its steps offered (read back from their summary.json).
Against the reference target seeded with 200 agents; steps of 1 s + 2 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli

AGENTS = 200


@pytest.fixture(scope="module")
def fleet_target() -> Iterator[Any]:
    from fleetplane.launch import start_target
    from fleetplane.seed import seed_database

    with start_target() as t:
        db = t.argv[t.argv.index("--db") + 1]
        seed_database(db, certs=0, agents=AGENTS)
        yield t


def _heartbeat(run_dir: Path) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    section: dict[str, Any] = summary["scenarios"]["heartbeat"]
    return section


def test_run_rate_is_iterations_per_second_for_a_30s_time_unit(fleet_target: Any,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run_cli("run", "agent-storm", "--agents", str(AGENTS), "--rate", "40", "--duration", "2s",
                "--target", fleet_target.url, "--token", fleet_target.api_key,
                "--quiet", "--out", str(out))
    assert r.code == 0, r.stderr + r.stdout
    heartbeat = _heartbeat(out)
    # 40 iterations/s x 2 s, not 40 per 30 s (2.7 in 2 s).
    assert heartbeat["schedule"]["scheduled_iterations"] == 80
    assert heartbeat["iterations"] == 80
    assert heartbeat["options"]["rate"] == 40 and heartbeat["options"]["time_unit"] == 1.0
    assert heartbeat["dropped_iterations"] == 0


def test_ceiling_reports_the_rates_its_steps_offered(fleet_target: Any, tmp_path: Path) -> None:
    out = tmp_path / "c"
    r = run_cli("ceiling", "agent-storm", "--agents", str(AGENTS), "--target", fleet_target.url,
                "--token", fleet_target.api_key, "--slo", "p(99)<2000",
                "--from", "20", "--to", "40", "--max-steps", "2",
                "--step-duration", "2s", "--warmup", "1s", "--cooldown-max", "10s",
                "--out", str(out), timeout=90)
    assert r.code == 0, r.stderr + r.stdout
    rep: dict[str, Any] = json.loads((out / "ceiling.json").read_text())
    steps = rep["steps"]
    assert [s["rate"] for s in steps] == [20, 40]
    for s in steps:
        heartbeat = _heartbeat(Path(s["run_dir"]))
        opts = heartbeat["options"]
        offered = opts["rate"] / opts["time_unit"]
        window = 3.0  # warm-up + measured window: the whole step's schedule
        assert offered == s["rate"] == s["offered_rate"]
        assert heartbeat["schedule"]["scheduled_iterations"] == pytest.approx(offered * window)
        assert s["achieved_iterations"] == pytest.approx(offered, rel=0.1)
    assert rep["rate_unit"] == "iterations/s"
    assert rep["status"] == "no-break" and rep["highest_rate_measured"] == 40
    assert rep["ceiling_rate"] == 40 and rep["ceiling_is_lower_bound"] is True
    assert rep["stop_reason"] == "it reached --to 40/s"
    assert ("no SLO broke up to 40 iterations/s, the highest step run" in r.stdout
            and "the search stopped because it reached --to 40/s" in r.stdout)
    # Nothing above what was measured: not "--to 10000", not 333/s.
    for line in rep["headline"]:
        assert "10000" not in line
    html = (out / "ceiling.html").read_text()
    assert "no break up to 40/s" in html
    # The reference target serves /healthz: the gate found it first.
    assert rep["health"]["url"] == fleet_target.url + "/healthz"
    assert rep["health"]["chosen_by"] == "discovery"
    assert f"health: using {fleet_target.url}/healthz" in r.stderr
