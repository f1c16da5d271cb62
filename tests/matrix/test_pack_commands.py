"""Every built-in pack that runs against the reference target, under every
command: ``run``, ``ceiling`` (two short steps), ``--workers 2`` and
``compare`` with itself. The assertions are invariants, not happy numbers:

* a pack's own contract holds against a healthy target with its defaults;
* every open-loop scenario started or dropped exactly what it scheduled;
* the rates a ceiling reports are the rates its steps offered, in
  iterations/s, and it claims nothing beyond the highest rate it measured;
* a pack that cannot run a command says so in one line (exit 2);
* a run compared with itself shows no significant change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import RunningTarget, start_target
from fleetplane.seed import seed_database
from tests.conftest import run_cli

FAST_RENEWALS = ("--renewal-workers", "4", "--renewal-latency", "0.005")

# pack -> flags that make it a few seconds against a small seeded target
PACKS: dict[str, tuple[str, ...]] = {
    "api-tier": ("--create-rate", "10", "--list-rate", "10"),
    "bulk-renewal": ("--certs", "300", "--rate", "2", "--drain-timeout", "20s"),
    "agent-storm": ("--agents", "200", "--heartbeat-interval", "10s"),
    "acme-burst": ("--vus", "5",),
    "fleet": ("--transport", "http", "--agents", "50", "--ramp", "1s",
              "--heartbeat-interval", "1s"),
}
# packs whose schedule is open loop with a constant rate: the ceiling steps it
CEILING_RATES: dict[str, tuple[str, str]] = {
    "api-tier": ("10", "20"), "bulk-renewal": ("2", "4"), "agent-storm": ("20", "40")}


@pytest.fixture(scope="module")
def target() -> Iterator[RunningTarget]:
    with start_target(extra_args=FAST_RENEWALS) as t:
        seed_database(t.argv[t.argv.index("--db") + 1], certs=300, agents=200)
        yield t


def lag(pack: str) -> tuple[str, ...]:
    """A looser lag bound for open-loop packs: these runs share a busy machine,
    and they check invariants, not the generator's timing (tests/results does)."""
    return ("--max-lag", "100ms") if pack in CEILING_RATES else ()


def run_pack(pack: str, target: RunningTarget, out: Path, *extra: str) -> tuple[Any, dict[str, Any]]:
    r = run_cli("run", pack, *PACKS[pack], "--duration", "3s", "--target", target.url,
                "--token", target.api_key, "--out", str(out), "--quiet", *extra, timeout=180)
    summary_file = out / "summary.json"
    return r, (json.loads(summary_file.read_text()) if summary_file.exists() else {})


def assert_schedules_accounted(summary: dict[str, Any]) -> None:
    for name, sc in summary["scenarios"].items():
        sched = sc.get("schedule")
        if not sched:
            continue
        started = sc["iterations"] + sc["interrupted_iterations"]
        assert started + sched["dropped_iterations"] == pytest.approx(
            sched["scheduled_iterations"]), (name, sc)


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_run_holds_the_packs_contract(pack: str, target: RunningTarget, tmp_path: Path) -> None:
    r, summary = run_pack(pack, target, tmp_path / "run", *lag(pack))
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert summary["run"]["verdict"] == "passed"
    assert all(t["ok"] for t in summary["thresholds"]), summary["thresholds"]
    assert_schedules_accounted(summary)


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_two_workers(pack: str, target: RunningTarget, tmp_path: Path) -> None:
    r, summary = run_pack(pack, target, tmp_path / "run", "--workers", "2", *lag(pack))
    if r.code == 2:
        # a pack that must run in one process says so, in one line
        assert r.stderr.startswith("fleetload: error: ") and "max_workers" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        return
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert summary["run"]["workers"] == 2
    assert_schedules_accounted(summary)


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_ceiling_reports_what_it_measured(pack: str, target: RunningTarget,
                                          tmp_path: Path) -> None:
    out = tmp_path / "c"
    rates = CEILING_RATES.get(pack, ("5", "10"))
    # the ceiling sets each step's rate itself: a pack's own --rate is refused there
    args = [a for i, a in enumerate(PACKS[pack])
            if a != "--rate" and (i == 0 or PACKS[pack][i - 1] != "--rate")]
    r = run_cli("ceiling", pack, *args, "--target", target.url, "--token",
                target.api_key, "--slo", "p(99)<5000", "--from", rates[0], "--to", rates[1],
                "--max-steps", "2", "--warmup", "1s", "--step-duration", "2s", "--no-cooldown",
                "--out", str(out), timeout=240)
    if pack not in CEILING_RATES:
        assert r.code == 2, r.stdout + r.stderr
        assert r.stderr.startswith("fleetload: error: ") and "constant-arrival-rate" in r.stderr
        return
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    report = json.loads((out / "ceiling.json").read_text())
    offered = []
    for step in report["steps"]:
        summary = json.loads((Path(step["run_dir"]) / "summary.json").read_text())
        scheduled = sum(sc["schedule"]["scheduled_iterations"]
                        for sc in summary["scenarios"].values()
                        if sc.get("schedule") and sc["executor"] == "constant-arrival-rate")
        seconds = summary["scenarios"][next(iter(summary["scenarios"]))]["options"]["duration"]
        # the rate a step reports is what its schedule offered, in iterations/s
        assert step["offered_rate"] == pytest.approx(scheduled / seconds, rel=0.01), step
        offered.append(step["offered_rate"])
    top = max(offered)
    assert report["highest_rate_measured"] == pytest.approx(top)
    if report["ceiling_rate"] is not None:
        assert report["ceiling_rate"] <= top
    for line in report["headline"]:
        # no "up to N/s" claim beyond the highest rate measured
        for word in line.replace(",", "").split():
            if word.endswith("/s") and word[:-2].replace(".", "").isdigit():
                assert float(word[:-2]) <= top * 1.0001, line


@pytest.mark.parametrize("pack", sorted(PACKS))
def test_compare_with_itself(pack: str, target: RunningTarget, tmp_path: Path) -> None:
    r, _ = run_pack(pack, target, tmp_path / "run", *lag(pack))
    assert r.code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    store = tmp_path / "store"
    rec = run_cli("baseline", "record", str(tmp_path / "run"), "--name", "self", "--store",
                  str(store))
    assert rec.code == 0, rec.stderr
    out = tmp_path / "cmp.json"
    cmp = run_cli("compare", str(tmp_path / "run"), "--baseline", "self", "--store", str(store),
                  "--json", str(out), "--fail-on-regression", "0")
    assert cmp.code == 0, cmp.stdout + cmp.stderr
    data = json.loads(out.read_text())
    assert data["metrics"], data
    # the same run on both sides: never a regression or an improvement
    assert {m["verdict"] for m in data["metrics"]} <= {"no significant change", "not enough data",
                                                       "not comparable"}
