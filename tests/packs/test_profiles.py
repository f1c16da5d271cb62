"""Every HTTP pack against both target profiles (fleetplane and certctl), a few
seconds each at low rates, with the packs' own defaults for everything that is
not load: the pack's thresholds hold against a healthy target, and the target
saw exactly the requests the run counted. A pack that assumes one profile's
conventions fails here against the other.

Plus: the certctl profile with its rate limiter on (as it starts) fails a
pack's thresholds with the 429s counted on both sides; the fleet's gRPC
transport refuses a certctl target (no gRPC ingest); and bulk-renewal's drain
waits for certctl's AwaitingCSR jobs and reports a job in a state it was not
told about as an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from fleetplane.launch import RunningTarget, start_target
from fleetplane.seed import seed_database
from tests.conftest import ROOT

from .conftest import (
    ADMIN_KEY,
    PROFILE_AGENTS,
    PROFILE_CERTS,
    PackRun,
    api,
    db_url,
    rate_limited,
    run_pack,
    served,
    wait_for,
)

HEARTBEAT = ("POST", "/api/v1/agents/{id}/heartbeat")
# The machine is shared with other tests: these runs check invariants, not how
# precisely a loaded machine keeps a schedule (docs/results.md, run validity).
MAX_LAG = ("--max-lag", "250ms")
OPEN_LOOP = {"api-tier", "bulk-renewal", "agent-storm"}


def pack_run(pack: str, target: RunningTarget | None, out: Path, *args: str) -> PackRun:
    return run_pack(pack, target, out, *(MAX_LAG if pack in OPEN_LOOP else ()), *args)


def requests_of(run: PackRun, scenario: str) -> float:
    return run.count(f"http_reqs{{scenario:{scenario}}}")


def delta(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float],
          key: tuple[str, str]) -> float:  # fmt: skip
    return after.get(key, 0.0) - before.get(key, 0.0)


def no_failed_checks(run: PackRun) -> bool:
    checks = run.summary["metrics"].get("checks")
    return checks is None or checks["values"]["fails"] == 0


def test_api_tier(profile_target: RunningTarget, tmp_path: Path) -> None:
    before = served(profile_target)
    run = pack_run("api-tier", profile_target, tmp_path / "run", "--duration", "2s",
                   "--create-rate", "10", "--list-rate", "10", "--stagger", "0s")
    assert run.code == 0, run.result.stdout + run.result.stderr
    after = served(profile_target)
    creates = requests_of(run, "issuance_acceptance")
    assert creates >= 15 and no_failed_checks(run)
    assert delta(before, after, ("POST", "/api/v1/certificates")) == creates
    assert delta(before, after, ("GET", "/api/v1/certificates")) >= requests_of(run, "list_certificates")
    gone = api(profile_target, "DELETE", f"/admin/loadtest/runs/{run.summary['run']['id']}", key=ADMIN_KEY)
    assert gone["certificates_removed"] == creates


def test_bulk_renewal(profile_target: RunningTarget, tmp_path: Path) -> None:
    before = served(profile_target)
    run = pack_run("bulk-renewal", profile_target, tmp_path / "run", "--duration", "2s",
                   "--certs", str(PROFILE_CERTS), "--batch-size", "5", "--drain-poll", "200ms")
    assert run.code == 0, run.result.stdout + run.result.stderr
    after = served(profile_target)
    requests = requests_of(run, "bulk_renew")
    assert requests >= 8 and no_failed_checks(run)  # every request renewed something
    assert delta(before, after, ("POST", "/api/v1/certificates/bulk-renew")) == requests
    section = run.summary["bulk_renewal"]
    assert section["jobs_enqueued"] == requests * 5
    assert section["drain_seconds"]["count"] == requests  # every batch drained ...
    assert section["jobs_unknown_state"] == {} and section["batches_undrained"] == 0
    assert section["unfinished_states"] == ["Pending", "AwaitingApproval", "AwaitingCSR", "Running"]
    # ... reading the listings and each finished job, as the target counted.
    jobs_read = delta(before, after, ("GET", "/api/v1/jobs/{id}"))
    assert jobs_read >= section["jobs_enqueued"]
    assert delta(before, after, ("GET", "/api/v1/jobs")) + jobs_read == requests_of(run, "drain")


def test_agent_storm_with_work_poll(profile_target: RunningTarget, tmp_path: Path) -> None:
    before = served(profile_target)
    run = pack_run("agent-storm", profile_target, tmp_path / "run", "--duration", "2s",
                   "--agents", str(PROFILE_AGENTS), "--heartbeat-interval", "2s",
                   "--work-poll", "--work-poll-interval", "4s")
    assert run.code == 0, run.result.stdout + run.result.stderr
    after = served(profile_target)
    beats = requests_of(run, "heartbeat")
    assert beats >= 80 and no_failed_checks(run)
    assert delta(before, after, HEARTBEAT) == beats
    polls = run.count("iterations{scenario:work_poll}")
    assert polls >= 40
    assert delta(before, after, ("GET", "/api/v1/agents/{id}/work")) == polls


def test_acme_burst(profile_target: RunningTarget, tmp_path: Path) -> None:
    before = served(profile_target)
    run = pack_run("acme-burst", profile_target, tmp_path / "run", "--duration", "2s",
                   "--vus", "4", "--certs", str(PROFILE_CERTS))
    assert run.code == 0, run.result.stdout + run.result.stderr
    after = served(profile_target)
    acme = sum(v for (m, route), v in after.items() if route.startswith("/acme/")) - \
        sum(v for (m, route), v in before.items() if route.startswith("/acme/"))  # fmt: skip
    assert acme == requests_of(run, "acme_burst") > 0


def test_fleet_over_http(profile_target: RunningTarget, tmp_path: Path) -> None:
    before = served(profile_target)
    run = pack_run("fleet", profile_target, tmp_path / "run", "--transport", "http",
                   "--agents", "20", "--heartbeat-interval", "1s", "--duration", "2s",
                   "--work-poll-interval", "1s")
    assert run.code == 0, run.result.stdout + run.result.stderr
    after = served(profile_target)
    fleet = run.summary["scenarios"]["fleet"]["fleet"]
    assert fleet["registrations"] == {"active": 20, "pending": 0, "failed": 0}
    assert fleet["heartbeats"]["failed"] == 0 and fleet["errors"] == []
    # The agents polled for work and read the answers (a misread one is an error above).
    assert delta(before, after, ("GET", "/api/v1/agents/{id}/work")) > 0
    assert delta(before, after, ("POST", "/api/v1/agents")) == 20
    assert delta(before, after, HEARTBEAT) == fleet["heartbeats"]["sent"] > 0


def test_fleet_over_grpc(profile_target: RunningTarget, tmp_path: Path) -> None:
    """The gRPC ingest is a fleetplane extension: the certctl profile has none,
    and the fleet says so before starting agents."""
    run = pack_run("fleet", profile_target, tmp_path / "run", "--transport", "grpc",
                   "--grpc-target", profile_target.grpc_target, "--agents", "10",
                   "--heartbeat-interval", "1s", "--duration", "2s")
    if profile_target.profile == "fleetplane":
        assert run.code == 0, run.result.stdout + run.result.stderr
        assert run.summary["scenarios"]["fleet"]["fleet"]["registrations"]["active"] == 10
    else:
        assert run.code == 2, run.result.stdout + run.result.stderr
        assert "fleet preflight: registration failed" in run.result.stderr


def test_agent_storm_answers_awaiting_csr(tmp_path: Path) -> None:
    """Agent key generation: the jobs a work poll returns wait for the agent's
    key; agent-storm answers each with a CSR, which finishes the renewal."""
    with start_target(extra_args=["--keygen-mode", "agent", "--renewal-workers", "0"]) as t:
        seed_database(db_url(t), certs=20, agents=20)
        certs = [c["id"] for c in api(t, "GET", "/api/v1/certificates?per_page=20")["data"]]
        jobs = [j["job_id"] for j in _post_json(t, "/api/v1/certificates/bulk-renew",
                                                {"certificate_ids": certs})["enqueued_jobs"]]
        assert {api(t, "GET", f"/api/v1/jobs/{j}")["status"] for j in jobs} == {"AwaitingCSR"}
        before = served(t)
        run = pack_run("agent-storm", t, tmp_path / "run", "--duration", "2s", "--agents", "20",
                       "--heartbeat-interval", "2s", "--work-poll", "--work-poll-interval", "1s")
        assert run.code == 0, run.result.stdout + run.result.stderr
        assert no_failed_checks(run)
        assert delta(before, served(t), ("POST", "/api/v1/agents/{id}/csr")) == len(jobs)
        assert {api(t, "GET", f"/api/v1/jobs/{j}")["status"] for j in jobs} == {"Completed"}


def test_rate_limiter_on_fails_the_run(limited_certctl: RunningTarget, tmp_path: Path) -> None:
    """certctl as it starts (50 req/s per client, burst 100) against 100
    heartbeats/s: the thresholds fail, and the run's 429s are the target's."""
    time.sleep(2)  # a full bucket, whatever ran before
    limited_before = rate_limited(limited_certctl)
    run = pack_run("agent-storm", limited_certctl, tmp_path / "run", "--duration", "3s",
                   "--agents", str(PROFILE_AGENTS), "--heartbeat-interval", "1s")
    assert run.code == 99, run.result.stdout + run.result.stderr
    failed = {t["metric"]: t for t in run.summary["thresholds"] if not t["ok"]}
    assert "http_req_failed{scenario:heartbeat}" in failed
    failures = run.summary["scenarios"]["heartbeat"]["failures"]
    reasons = {r["status"]: r["count"] for r in failures["reasons"]}
    assert failures["rate_limited"] is not None and failures["rate_limited"]["count"] == reasons[429]
    assert failures["rate_limited"]["retry_after"] == "1"
    # Every 429 the run counted is one the target refused (its other buckets are apart).
    assert rate_limited(limited_certctl) - limited_before == reasons[429] > 50


def test_setup_errors_read_certctl_bodies(limited_certctl: RunningTarget, tmp_path: Path) -> None:
    run = pack_run("agent-storm", None, tmp_path / "run", "--target", limited_certctl.url,
                   "--token", "wrong-key", "--agents", "5", "--duration", "1s")
    assert run.code == 2
    assert "the target refused the API key (HTTP 401: Invalid API key)" in run.result.stderr


def _drain_run(target: RunningTarget, out: Path, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "fleetload", "run", "bulk-renewal", "--out", str(out), "--quiet",
            "--target", target.url, "--token", target.api_key, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(argv, cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _request(target: RunningTarget, path: str, body: dict[str, Any]) -> urllib.request.Request:
    return urllib.request.Request(target.url + path, data=json.dumps(body).encode(), method="POST",
                                  headers={"Authorization": f"Bearer {target.api_key}",
                                           "Content-Type": "application/json"})  # fmt: skip


def _post(target: RunningTarget, path: str, body: dict[str, Any]) -> int:
    with urllib.request.urlopen(_request(target, path, body), timeout=10) as resp:
        return int(resp.status)


def _post_json(target: RunningTarget, path: str, body: dict[str, Any]) -> Any:
    with urllib.request.urlopen(_request(target, path, body), timeout=10) as resp:
        return json.loads(resp.read())


def test_drain_waits_for_awaiting_csr(tmp_path: Path) -> None:
    """certctl's agent keygen: renewal jobs wait AwaitingCSR for the agent. With
    nobody to send CSRs the drain does not report them drained; once CSRs move
    them on it does, and a job that ends in a state outside --finished-states
    is an error with its state's name, its batch never drained."""
    from fleetload.fleet.http_agent import agent_csr

    with start_target(profile="certctl", rate_limit=False, extra_args=["--renewal-workers", "0"]) as t:
        seed_database(db_url(t), certs=20, agents=1)
        proc = _drain_run(t, tmp_path / "run", *MAX_LAG, "--duration", "1s", "--rate", "3",
                          "--certs", "20", "--batch-size", "2", "--drain-poll", "100ms", "--drain-timeout", "30s",
                          "--finished-states", "Completed,Cancelled")
        wait_for("the bulk renewals", lambda: api(
            t, "GET", "/api/v1/jobs?status=AwaitingCSR&per_page=1")["total"] >= 6, timeout=20)
        time.sleep(1.5)  # the load is over: only the drain keeps the run going
        assert proc.poll() is None, proc.communicate()
        waiting = api(t, "GET", "/api/v1/jobs?status=AwaitingCSR&per_page=100")["data"]
        failed, *done = waiting
        assert _post(t, f"/api/v1/agents/ag-loadtest-00001/jobs/{failed['id']}/status",
                     {"status": "Failed", "error": "no key"}) == 200
        for job in done:
            assert _post(t, "/api/v1/agents/ag-loadtest-00001/csr",
                         {"csr_pem": agent_csr(), "certificate_id": job["certificate_id"]}) == 202
        moved_at = time.monotonic()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    section = summary["bulk_renewal"]
    batches = section["jobs_enqueued"] / 2
    assert section["jobs_unknown_state"] == {"Failed": 1}
    assert section["batches_unknown_state"] == 1 and section["batches_undrained"] == 0
    assert section["drain_seconds"]["count"] == batches - 1
    # Drained only once moved on: at least the 1.5 s the test held them.
    assert section["drain_seconds"]["p50"] >= 1.5
    assert time.monotonic() - moved_at < 30
