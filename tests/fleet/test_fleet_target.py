"""The built-in agents against the reference target on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleetplane.launch import RunningTarget

from .conftest import (
    ADMIN_KEY,
    api_get,
    finish_fleet,
    run_agents,
    run_cli,
    run_fleet,
    start_fleet,
)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_fleet_registers_and_heartbeats(target: RunningTarget, tmp_path: Path, transport: str) -> None:
    extra = ["--threshold", "http_req_duration{name:agent heartbeat}:p(95)<5000"]
    r = run_fleet(target, tmp_path, "--transport", transport, "--agents", "40",
                  "--registration-concurrency", "4", "--heartbeat-interval", "1s",
                  "--duration", "3s", "--hostname-prefix", "lt",
                  *(extra if transport == "http" else []))
    assert r.code == 0, r.stderr[-3000:]
    f = r.fleet
    assert f["registrations"] == {"active": 40, "pending": 0, "failed": 0}
    assert f["max_registrations_in_flight"] <= 4
    assert f["heartbeats"]["sent"] >= 80 and f["heartbeats"]["failed"] == 0
    assert f["heartbeat_rtt"]["p95"] > 0
    agents = run_agents(target, r.run_id)
    assert len(agents) == 40
    assert all(a["hostname"].startswith(f"lt-{r.run_id}-") for a in agents)
    assert all(a["transport"] == ("grpc" if transport == "grpc" else "rest") for a in agents)
    assert all(a["status"] == "Online" for a in agents)
    # the live line and the end-of-run cleanup hint
    assert "regs: 40 active / 0 pend / 0 fail" in r.stderr
    assert f"--run-id {r.run_id}" in r.stdout and f"lt-{r.run_id}-*" in r.stdout
    if transport == "http":
        assert r.summary is not None
        seen = {t["metric"]: t for t in r.summary["thresholds"]}
        hb = seen["http_req_duration{name:agent heartbeat}"]
        assert hb["ok"] and hb["observed"] is not None


def test_pushes_answered_and_recorded_by_server(push_target: RunningTarget, tmp_path: Path) -> None:
    r = run_fleet(push_target, tmp_path, "--transport", "grpc", "--agents", "5",
                  "--heartbeat-interval", "1s", "--duration", "4s", "--check-failure-rate", "1")
    assert r.code == 0, r.stderr[-3000:]
    pushes = r.fleet["pushes"]
    assert pushes.get("task", 0) >= 5 and pushes.get("check", 0) >= 5
    assert pushes.get("inventory", 0) >= 5
    assert r.fleet["task_duration"]["count"] >= 5
    agents = run_agents(push_target, r.run_id)
    assert len(agents) == 5
    for a in agents:
        full = api_get(push_target, f"/api/v1/agents/{a['id']}")
        assert full["pushes_sent"] >= 3, full
        assert full["task_results"] >= 1 and full["task_failures"] == 0, full
        assert full["check_results"] >= 1 and full["check_failures"] == full["check_results"], full
        assert full["inventory_packages"] >= 1000 and full["inventory_packages"] % 500 == 0, full


def test_pushes_can_be_turned_off(push_target: RunningTarget, tmp_path: Path) -> None:
    r = run_fleet(push_target, tmp_path, "--transport", "grpc", "--agents", "3",
                  "--heartbeat-interval", "1s", "--duration", "2s",
                  "--no-tasks", "--no-checks", "--no-inventory")
    assert r.code == 0, r.stderr[-3000:]
    pushes = r.fleet["pushes"]
    assert set(pushes) <= {"task_ignored", "check_ignored", "inventory_ignored"}, pushes
    for a in run_agents(push_target, r.run_id):
        full = api_get(push_target, f"/api/v1/agents/{a['id']}")
        assert full["task_results"] == 0 and full["check_results"] == 0
        assert full["inventory_packages"] == 0


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_server_killed_and_restarted(target: RunningTarget, tmp_path: Path, transport: str) -> None:
    agents = 20
    proc = start_fleet(target, tmp_path, "--transport", transport, "--agents", str(agents),
                       "--heartbeat-interval", "1s", "--work-poll-interval", "1s",
                       "--duration", "14s")
    try:
        time.sleep(4.0)
        target.kill()
        time.sleep(2.0)
        target.restart()
    finally:
        r = finish_fleet(proc, tmp_path)
    assert r.code in (0, 99), r.stderr[-3000:]  # 99: the failed-heartbeat threshold
    f = r.fleet
    assert f["reconnects"] >= agents, f
    assert f["registrations"]["active"] == agents
    assert f["heartbeats"]["failed"] > 0
    assert f["errors"], f
    # streams (gRPC) / heartbeats (HTTP) back before the end
    rows = [row["scenarios"]["fleet"]["status"] for row in r.timeline()
            if "status" in row["scenarios"].get("fleet", {})]
    if transport == "grpc":
        assert any(s["streams_open"] == 0 for s in rows)
        assert rows[-2]["streams_open"] == agents, rows[-3:]
    assert rows[-1]["hb_sent"] - rows[-4]["hb_sent"] >= agents
    assert len(run_agents(target, r.run_id)) == agents  # no duplicate registrations


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_preflight_aborts_on_rejected_token(target: RunningTarget, tmp_path: Path, transport: str) -> None:
    r = run_fleet(target, tmp_path, "--transport", transport, "--agents", "1000",
                  "--duration", "5s", token="not-a-key")
    assert r.code == 2, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("fleetload: error:")]
    assert len(errors) == 1 and "preflight" in errors[0] and "rejected" in errors[0], r.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_preflight_aborts_when_pending(pending_target: RunningTarget, tmp_path: Path,
                                       workers: str) -> None:
    r = run_fleet(pending_target, tmp_path, "--transport", "grpc", "--agents", "1000",
                  "--duration", "5s", "--workers", workers)
    assert r.code == 2, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("fleetload: error:")]
    assert len(errors) == 1 and "PENDING" in errors[0] and "auto-approve" in errors[0], r.stderr
    body = api_get(pending_target, "/api/v1/agents?status=Pending&per_page=500")
    assert body["total"] <= 3  # a preflight agent per run and worker, not a thousand


def test_cleanup_removes_exactly_the_run(target: RunningTarget, tmp_path: Path) -> None:
    a = run_fleet(target, tmp_path / "a", "--transport", "http", "--agents", "12",
                  "--heartbeat-interval", "5s", "--duration", "1s")
    b = run_fleet(target, tmp_path / "b", "--transport", "grpc", "--agents", "7",
                  "--heartbeat-interval", "5s", "--duration", "1s")
    assert a.code == 0 and b.code == 0, (a.stderr[-2000:], b.stderr[-2000:])
    total_before = api_get(target, "/api/v1/agents?per_page=1")["total"]
    p = run_cli("cleanup", "--target", target.url, "--admin-key", ADMIN_KEY, "--run-id", a.run_id)
    assert p.returncode == 0, p.stderr
    assert f"run {a.run_id}: removed 12 agent(s), 0 certificate(s)" in p.stdout
    assert run_agents(target, a.run_id) == []
    assert len(run_agents(target, b.run_id)) == 7
    assert api_get(target, "/api/v1/agents?per_page=1")["total"] == total_before - 12
    again = run_cli("cleanup", "--target", target.url, "--admin-key", ADMIN_KEY, "--run-id", a.run_id)
    assert "removed 0 agent(s)" in again.stdout


def test_cleanup_errors_exit_2(target: RunningTarget, pending_target: RunningTarget) -> None:
    bad = run_cli("cleanup", "--target", target.url, "--admin-key", "wrong", "--run-id", "x")
    assert bad.returncode == 2 and "admin key" in bad.stderr and "401" in bad.stderr
    off = run_cli("cleanup", "--target", pending_target.url, "--admin-key", "k", "--run-id", "x")
    assert off.returncode == 2 and "503" in off.stderr and "--admin-key" in off.stderr
    gone = run_cli("cleanup", "--target", "http://127.0.0.1:9", "--admin-key", "k", "--run-id", "x")
    assert gone.returncode == 2 and "unreachable" in gone.stderr
