"""Cadence, jitter, ramp and the registration cap, with a user-defined Agent."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

from fleetload.engine.loop import run_async
from fleetload.run import RunConfig, run_test
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe

SCRIPT = str(Path(__file__).parent / "scripts" / "recording_fleet.py")


def _run(tmp: Path, **env: str) -> tuple[dict[str, Any], dict[str, Any]]:
    recipe = PlanRecipe(Overrides(env={"FLEET_TEST_OUT": str(tmp), **env}), script=SCRIPT)
    outcome = run_async(run_test(recipe, RunConfig(results_root=tmp / "results", quiet=True)))
    assert outcome.exit_code == 0, outcome.text
    record = json.loads((tmp / "record-0.json").read_text())
    return record, outcome.summary


def test_jittered_cadence_and_concurrency_cap(tmp_path: Path) -> None:
    record, summary = _run(tmp_path, FLEET_TEST_AGENTS="200", FLEET_TEST_CAP="8")
    assert record["max_in_flight"] == 8  # the cap, reached and never exceeded
    fleet = summary["scenarios"]["fleet"]["fleet"]
    assert fleet["max_registrations_in_flight"] == 8
    assert fleet["registrations"]["active"] == 200
    ticks = record["ticks"]
    assert len(ticks) == 200
    # First ticks: spread over the first interval after registration, not in lockstep.
    firsts = sorted(v[0] for v in ticks.values())
    assert firsts[-1] - firsts[0] > 0.6
    assert len({round(t, 3) for t in firsts}) > 150
    # Intervals: 1 s +-20 %, measurably spread.
    gaps = [b - a for v in ticks.values() for a, b in itertools.pairwise(v)]
    assert len(gaps) > 300
    assert min(gaps) >= 0.78 and max(gaps) <= 1.25
    assert statistics.pstdev(gaps) > 0.05
    assert fleet["tick_lateness"]["p99"] < 100.0  # ms
    # Ramp vs steady: every agent is through the ramp; ticks due from its end + one
    # interval are "steady", the rest "ramp", and together they are all the ticks.
    assert fleet["ramp_pending"] == 0
    assert 0.0 < fleet["ramp_done_s"] < 2.0
    steady, ramp = fleet["tick_lateness_steady"], fleet["tick_lateness_ramp"]
    assert steady["count"] > 100 and ramp["count"] > 100
    assert steady["count"] + ramp["count"] == fleet["tick_lateness"]["count"]
    assert steady["p99"] < 100.0
    assert any(line.startswith("tick lateness steady p50=") for line in
               summary["scenarios"]["fleet"]["text"]), summary["scenarios"]["fleet"]["text"]


def test_ramp_spreads_registrations(tmp_path: Path) -> None:
    record, _ = _run(tmp_path, FLEET_TEST_AGENTS="60", FLEET_TEST_RAMP="3s", FLEET_TEST_CAP="32")
    regs = sorted(record["registered"])
    assert len(regs) == 60
    # agent i starts at i * 3s / 60: a linear spread over the ramp
    assert regs[-1] - regs[0] > 2.7
    for k in (15, 30, 45):
        assert abs(regs[k] - (k * 3.0 / 60 + 0.02)) < 0.25, (k, regs[k])
    assert record["max_in_flight"] <= 3
