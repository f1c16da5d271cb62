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
                  "--ramp", "4s", "--duration", "9s", "--heartbeat-interval", "2s",
                  "--registration-concurrency", "64", "--allow-inconclusive",
                  # the counts are the point, not the heartbeats' RTT on a busy machine
                  "--rtt-p95", "100000", timeout=150)
    assert r.code == 0, r.stderr[-3000:]
    assert r.summary is not None
    assert 9.0 <= r.summary["run"]["elapsed"] < 10.0
    assert r.summary["run"]["workers"] == 2
    assert r.fleet["registrations"] == {"active": 1600, "pending": 0, "failed": 0}
    assert r.summary["metrics"]["fleet_agents"]["values"]["max"] == 1600
    assert len(run_agents(target, r.run_id)) == 1600
    assert "agents 1,600 (http)" in r.stdout
