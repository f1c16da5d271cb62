"""A fleet split over worker processes: every worker's agents counted, to the end."""

from __future__ import annotations

from pathlib import Path

from fleetplane.launch import RunningTarget

from .conftest import run_agents, run_fleet


def test_a_fleet_on_two_workers_counts_both_workers_to_the_end(target: RunningTarget,
                                                               tmp_path: Path) -> None:
    # 800 agents a worker: their per-second status and timings are larger than a
    # pipe's buffer, so a snapshot reaches the parent in several pieces.
    r = run_fleet(target, tmp_path, "--transport", "http", "--agents", "1600", "--workers", "2",
                  "--ramp", "4s", "--duration", "12s", "--heartbeat-interval", "2s",
                  "--registration-concurrency", "64", "--allow-inconclusive",
                  # the counts are the point, not the heartbeats' RTT on a busy machine
                  "--rtt-p95", "100000", timeout=150)
    assert r.code == 0, r.stderr[-3000:]
    assert r.summary is not None
    # ran to its end (plus the requests in flight finishing), not cut short
    assert 12.0 <= r.summary["run"]["elapsed"] < 12.0 + 10.0
    assert r.summary["run"]["workers"] == 2
    assert r.summary["metrics"]["fleet_agents"]["values"]["max"] == 1600
    assert "agents 1,600 (http)" in r.stdout
    # Every registration the target accepted is counted, from both workers: a
    # machine too busy for the target to register all 1,600 in time leaves some
    # unregistered (the run then says its ramp did not complete), never uncounted.
    regs = r.fleet["registrations"]
    registered = run_agents(target, r.run_id)
    assert regs["active"] == len(registered) and regs["pending"] == 0 and regs["failed"] == 0
    indexes = {int(a["hostname"].rsplit("-", 1)[1]) for a in registered}
    assert {i < 800 for i in indexes} == {True, False}, "both workers' agents registered"
    if regs["active"] < 1600:
        assert "fleet ramp not completed" in r.stdout + r.stderr
