"""Run validity: a run that did not deliver the load asked for is INCONCLUSIVE
(exit 3) in every output, never a pass; baselines and comparisons refuse it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fleetload.results.validity import ValidityRules, assess
from fleetplane.launch import start_target
from tests.conftest import run_cli

TOKEN = "fleetload-dev-key"


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def slow_registrations():
    # Every database transaction holds the SQLite writer 50 ms: at most ~20
    # registrations a second, far below a 300-agent ramp over 1 s.
    with start_target(extra_args=("--db-latency", "50ms")) as t:
        yield t


def test_fleet_ramp_not_completed_is_inconclusive(slow_registrations, tmp_path: Path) -> None:
    out = tmp_path / "run"
    junit = tmp_path / "junit.xml"
    r = run_cli("run", "fleet", "--transport", "http", "--agents", "300", "--ramp", "1s",
                "--duration", "3s", "--heartbeat-interval", "1s", "--rtt-p95", "60000", "--target",
                slow_registrations.url, "--token", TOKEN, "--out", str(out), "--quiet",
                "--junit", str(junit), "--report", timeout=120)
    assert r.code == 3, r.stdout + r.stderr
    s = _summary(out)
    fleet = s["scenarios"]["fleet"]["fleet"]
    assert fleet["ramp_pending"] > 0
    reason = (f"scenario fleet: fleet ramp not completed: {fleet['ramp_pending']:,} of "
              f"{fleet['agents']:,} agents never got through registration")
    assert s["run"]["verdict"] == "inconclusive" and s["run"]["exit_code"] == 3
    assert reason in s["run"]["validity"]["reasons"]
    text = (out / "summary.txt").read_text()
    assert "run validity: NOT VALID, the run did not deliver the load asked for:" in text
    assert reason in text and "verdict: INCONCLUSIVE (exit 3)" in text
    assert r.stdout.startswith(text)
    html = (out / "report.html").read_text()
    assert "INCONCLUSIVE (exit 3)" in html and "Run not valid" in html
    case = next(c for c in ET.parse(junit).getroot().iter("testcase")
                if c.get("name") == "run validity")
    failure = case.find("failure")
    assert failure is not None and reason in failure.get("message")
    # fleetload runs lists it as such
    listing = run_cli("runs", "--results-dir", str(tmp_path))
    assert "inconclusive" in listing.stdout


def test_allow_inconclusive_turns_it_into_a_warning(slow_registrations, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run_cli("run", "fleet", "--transport", "http", "--agents", "300", "--ramp", "1s",
                "--duration", "2s", "--heartbeat-interval", "1s", "--rtt-p95", "60000", "--target",
                slow_registrations.url, "--token", TOKEN, "--out", str(out), "--quiet",
                "--allow-inconclusive", timeout=120)
    assert r.code == 0, r.stdout + r.stderr
    s = _summary(out)
    assert s["run"]["verdict"] == "passed"
    assert s["run"]["validity"]["valid"] is False and s["run"]["validity"]["allowed"] is True
    assert ("run validity: NOT VALID, the run did not deliver the load asked for "
            "(allowed by --allow-inconclusive):") in r.stdout


LATE = """
import time
from fleetload import scenario, ConstantArrivalRate

@scenario(ConstantArrivalRate(rate=60, duration="2s", max_in_flight=1000))
async def late(vu):
    time.sleep(0.03)  # blocks the event loop: every start after it is late
"""


def test_iteration_lag_above_the_bound_is_inconclusive(tmp_path: Path) -> None:
    script = tmp_path / "late.py"
    script.write_text(LATE)
    out = tmp_path / "run"
    r = run_cli("run", str(script), "--out", str(out), "--quiet")
    assert r.code == 3, r.stdout + r.stderr
    s = _summary(out)
    lag = s["scenarios"]["late"]["schedule"]["iteration_lag"]["p99"]
    assert lag > 10
    assert (f"scenario late: iteration lag p99 {lag:,.1f} ms is above the 10 ms bound: "
            "iterations started late") in s["run"]["validity"]["reasons"]
    assert s["scenarios"]["late"]["schedule"]["kept"] is False
    # The same run with a looser bound is valid.
    out2 = tmp_path / "run2"
    r2 = run_cli("run", str(script), "--out", str(out2), "--quiet", "--max-lag", "10s")
    assert r2.code == 0, r2.stdout + r2.stderr
    assert _summary(out2)["run"]["validity"]["rules"]["lag_bound_ms"] == 10000


def test_failed_thresholds_win_over_inconclusive(stub, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run_cli("run", "--url", f"{stub.url}/delay?ms=300", "--rate", "50", "--duration", "1s",
                "--max-in-flight", "2", "--threshold", "http_req_duration:p(95)<100",
                "--out", str(out), "--quiet")
    assert r.code == 99, r.stdout + r.stderr
    s = _summary(out)
    assert s["run"]["verdict"] == "failed"
    assert s["run"]["validity"]["valid"] is False  # the reasons are still told
    assert "run validity: NOT VALID" in r.stdout


def test_baseline_and_compare_refuse_an_inconclusive_run(stub, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    r = run_cli("run", "--url", f"{stub.url}/delay?ms=300", "--rate", "50", "--duration", "1s",
                "--max-in-flight", "2", "--out", str(bad), "--quiet")
    assert r.code == 3, r.stdout + r.stderr
    store = tmp_path / "store"
    rec = run_cli("baseline", "record", str(bad), "--name", "main", "--store", str(store))
    assert rec.code == 2
    assert rec.stderr.startswith(f"fleetload: error: {bad} is an inconclusive run (scenario "
                                 "default: ")
    assert "it cannot be a baseline (use --allow-inconclusive to use it anyway)" in rec.stderr
    good = tmp_path / "good"
    assert run_cli("run", "--url", f"{stub.url}/ok", "--rate", "20", "--duration", "1s",
                   "--out", str(good), "--quiet").code == 0
    assert run_cli("baseline", "record", str(good), "--name", "main", "--store",
                   str(store)).code == 0
    cmp = run_cli("compare", str(bad), "--baseline", "main", "--store", str(store))
    assert cmp.code == 2
    assert "is an inconclusive run" in cmp.stderr and "it cannot be compared" in cmp.stderr
    forced = run_cli("compare", str(bad), "--baseline", "main", "--store", str(store),
                     "--allow-inconclusive")
    assert forced.code == 0, forced.stderr
    rec2 = run_cli("baseline", "record", str(bad), "--name", "bad", "--store", str(store),
                   "--allow-inconclusive")
    assert rec2.code == 0, rec2.stderr


def _summary_with(scenario: dict) -> dict:
    return {"scenarios": {"s": scenario}}


def test_cpu_saturation_is_a_reason_for_open_loop_and_a_warning_for_closed_loop() -> None:
    rules = ValidityRules()
    busy = [0.5, 0.97, 0.96, 0.99, 0.2]  # first and last intervals are left out
    open_loop = _summary_with({"iterations": 100, "interrupted_iterations": 0,
                               "schedule": {"scheduled_iterations": 100, "dropped_iterations": 0,
                                            "iteration_lag": {"p99": 1.0}}})
    v = assess(open_loop, busy, rules)
    assert v["valid"] is False and v["generator_cpu_pct"] == 97.3
    assert v["reasons"] == ["generator CPU saturated: the busiest worker process used 97% of a "
                            "core on average (limit 90%); add --workers"]
    closed = _summary_with({"iterations": 100})
    v = assess(closed, busy, rules)
    assert v["valid"] is True and v["reasons"] == []
    assert v["warnings"] == ["generator CPU saturated: the busiest worker process used 97% of a "
                             "core on average (limit 90%); add --workers: closed-loop throughput "
                             "is bounded by the generator"]
    assert assess(open_loop, [0.5, 0.6, 0.5], rules)["valid"] is True


def test_lag_is_judged_over_enough_iterations() -> None:
    rules = ValidityRules()

    def scenario(started: int) -> dict:
        return {"iterations": started, "interrupted_iterations": 0,
                "schedule": {"scheduled_iterations": started, "dropped_iterations": 0,
                             "iteration_lag": {"p99": 40.0}}}

    # 20 starts: the p99 is the single slowest one, not a schedule not kept
    assert assess(_summary_with(scenario(20)), [], rules)["valid"] is True
    assert assess(_summary_with(scenario(100)), [], rules)["reasons"] == [
        "scenario s: iteration lag p99 40.0 ms is above the 10 ms bound: iterations started late"]


def test_too_few_started_and_stopped_early_are_reasons() -> None:
    rules = ValidityRules()
    s = _summary_with({"iterations": 90, "interrupted_iterations": 2,
                       "schedule": {"scheduled_iterations": 100, "dropped_iterations": 0,
                                    "iteration_lag": {"p99": 1.0}}})
    v = assess(s, [], rules, stopped_early="exceeded the planned duration plus graceful stop")
    assert v["reasons"] == [
        "scenario s: 92 of 100 scheduled iterations started (92.0%, below 97%)",
        "stopped early: exceeded the planned duration plus graceful stop"]
