"""Each built-in pack for a few seconds against the reference target (and
nginx/HAProxy for connector-tier): per-scenario metrics exist and add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetplane.launch import RunningTarget

from .conftest import ADMIN_KEY, SEED_AGENTS, SEED_CERTS, PackRun, api, db_url, run_pack


def assert_scenarios_add_up(run: PackRun, scenarios: list[str]) -> None:
    per = [run.count(f"http_reqs{{scenario:{s}}}") for s in scenarios]
    assert all(n > 0 for n in per), per
    assert sum(per) == run.count("http_reqs")
    assert sum(run.count(f"iterations{{scenario:{s}}}") for s in scenarios) == run.count("iterations")
    for s in scenarios:
        assert f"http_req_duration{{scenario:{s}}}" in run.summary["metrics"]
        assert s in run.summary["scenarios"]


def near(value: float, expected: float, tolerance: float = 1) -> bool:
    return abs(value - expected) <= tolerance


def test_api_tier(seeded_target: RunningTarget, tmp_path: Path) -> None:
    run = run_pack("api-tier", seeded_target, tmp_path / "run", "--duration", "3s",
                   "--create-rate", "10", "--list-rate", "10", "--stagger", "1s")
    assert run.code == 0, run.result.stderr
    assert_scenarios_add_up(run, ["issuance_acceptance", "list_certificates"])
    assert near(run.count("iterations{scenario:issuance_acceptance}"), 30)
    assert near(run.count("iterations{scenario:list_certificates}"), 30)
    opts = run.summary["scenarios"]["list_certificates"]["options"]
    assert opts["start_time"] == 1.0 and opts["rate"] == 10.0
    keys = {t["metric"] for t in run.summary["thresholds"]}
    assert keys == {"http_req_duration{scenario:issuance_acceptance}",
                    "http_req_failed{scenario:issuance_acceptance}",
                    "http_req_duration{scenario:list_certificates}",
                    "http_req_failed{scenario:list_certificates}"}
    # Created certificates carry the run id: the admin cleanup removes exactly them.
    created = run.count("iterations{scenario:issuance_acceptance}")
    gone = api(seeded_target, "DELETE", f"/admin/loadtest/runs/{run.summary['run']['id']}",
               key=ADMIN_KEY)
    assert gone["certificates_removed"] == created


def test_bulk_renewal_measures_the_drain(seeded_target: RunningTarget, tmp_path: Path) -> None:
    run = run_pack("bulk-renewal", seeded_target, tmp_path / "run", "--duration", "3s",
                   "--certs", str(SEED_CERTS), "--batch-size", "5")
    assert run.code == 0, run.result.stderr
    assert_scenarios_add_up(run, ["bulk_renew", "drain"])
    requests = run.count("iterations{scenario:bulk_renew}")
    assert near(requests, 15)
    assert run.count("bulk_renewal_jobs_enqueued") == requests * 5  # every request did work
    assert run.summary["metrics"]["checks{scenario:bulk_renew}"]["values"]["fails"] == 0
    drain = run.summary["metrics"]["bulk_renewal_drain_seconds{scenario:drain}"]["values"]
    assert drain["count"] == requests  # every batch seen drained
    section = run.summary["bulk_renewal"]
    assert section["batches_undrained"] == 0
    assert section["drain_seconds"]["count"] == requests
    assert section["request_duration_ms"]["p99"] > 0
    assert section["tail_seconds"] is not None
    # Nothing of ours is left in the queue.
    assert api(seeded_target, "GET", "/api/v1/jobs?status=Pending&per_page=1")["total"] == 0


def test_agent_storm_rate_is_fleet_arithmetic(seeded_target: RunningTarget, tmp_path: Path) -> None:
    before = api(seeded_target, "GET", "/api/v1/agents/ag-loadtest-00001")["heartbeat_count"]
    run = run_pack("agent-storm", seeded_target, tmp_path / "run", "--duration", "3s",
                   "--agents", str(SEED_AGENTS), "--heartbeat-interval", "2s",
                   "--work-poll", "--work-poll-interval", "4s")
    assert run.code == 0, run.result.stderr
    assert "200 agents / 2s heartbeat interval = 100.0 heartbeats/s" in run.result.stderr
    assert "200 agents / 4s work-poll interval = 50.0 work polls/s" in run.result.stderr
    assert_scenarios_add_up(run, ["heartbeat", "work_poll"])
    beats = run.count("iterations{scenario:heartbeat}")
    assert near(beats, 300)
    assert near(run.count("iterations{scenario:work_poll}"), 150)
    assert run.summary["metrics"]["checks{scenario:heartbeat}"]["values"]["fails"] == 0
    # Round robin over the fleet: agent 1 is beat once per pass (300 beats = 1.5 passes).
    after = api(seeded_target, "GET", "/api/v1/agents/ag-loadtest-00001")["heartbeat_count"]
    assert after - before == 2
    last = api(seeded_target, "GET", f"/api/v1/agents/ag-loadtest-{SEED_AGENTS:05d}")
    assert last["heartbeat_count"] >= 1


def test_acme_burst_counts_real_429s(limited_target: RunningTarget, tmp_path: Path) -> None:
    run = run_pack("acme-burst", limited_target, tmp_path / "run", "--duration", "2s",
                   "--vus", "10")
    assert run.code == 0, run.result.stderr
    assert_scenarios_add_up(run, ["acme_burst"])
    limited = run.count("acme_rate_limited{scenario:acme_burst}")
    assert limited > 0
    assert run.count("acme_rate_limit_shape_ok{scenario:acme_burst}") == limited
    assert run.summary["metrics"]["http_req_failed"]["values"]["passes"] == 0  # 429 expected
    assert run.summary["metrics"]["checks"]["values"]["fails"] == 0
    section = run.summary["acme_burst"]
    for name in ("acme_directory", "acme_new_nonce", "acme_renewal_info"):
        assert section[name]["rate_limited"] > 0
        assert section[name]["served_ms"]["count"] > 0  # some were served (200)
    assert sum(section[n]["rate_limited"] for n in section) == limited


def test_acme_burst_ari_ids_file(limited_target: RunningTarget, tmp_path: Path) -> None:
    ari = api(limited_target, "GET", "/api/v1/certificates?per_page=3")["data"][0]["ari_id"]
    ids = tmp_path / "ari.txt"
    ids.write_text(f"# one id\n{ari}\n")
    run = run_pack("acme-burst", None, tmp_path / "run", "--target", limited_target.url,
                   "--duration", "1s", "--vus", "2", "--ari-ids", str(ids))
    assert run.code == 0, run.result.stderr
    assert run.summary["acme_burst"]["acme_renewal_info"]["requests"] > 0


def test_connector_tier_nginx_and_haproxy(nginx_tls: str, haproxy_tls: str, tls_files,
                                          tmp_path: Path) -> None:
    run = run_pack("connector-tier", None, tmp_path / "run",
                   "--endpoint", f"nginx={nginx_tls}", "--endpoint", f"haproxy={haproxy_tls}",
                   "--connections-per-minute", "600", "--duration", "2s",
                   "--slo", "haproxy:p95=800ms:p99=2s", "--ca-cert", str(tls_files.cert))
    assert run.code == 0, run.result.stderr
    assert_scenarios_add_up(run, ["nginx", "haproxy"])
    section = run.summary["connector_tier"]
    for name in ("nginx", "haproxy"):
        assert near(run.count(f"iterations{{scenario:{name}}}"), 20)
        s = section[name]
        assert s["error_rate"] == 0.0 and near(s["iterations"], 20)
        assert s["tls_handshake_ms"]["count"] == s["iterations"]
        assert s["connection_ms"]["count"] == s["iterations"]
        for part in ("connect_ms", "tls_handshake_ms", "request_ms", "connection_ms"):
            assert s[part]["p95"] >= s[part]["p50"] >= 0
    # A new TCP connection and TLS handshake every time: even the fastest had both.
    assert run.summary["metrics"]["http_req_tls_handshaking"]["values"]["min"] > 0
    assert run.summary["metrics"]["http_req_connecting"]["values"]["min"] > 0
    assert section["haproxy"]["contract"] == {"p95_ms": 800.0, "p99_ms": 2000.0, "error_rate": 0.01}
    assert section["nginx"]["contract"]["p99_ms"] == 3000.0
    assert {t["metric"] for t in run.summary["thresholds"]} >= {
        "connector_connection_time{scenario:nginx}", "http_req_failed{scenario:haproxy}"}


def test_connector_tier_needs_endpoints(tmp_path: Path) -> None:
    run = run_pack("connector-tier", None, tmp_path / "run", "--duration", "1s")
    assert run.code == 2
    assert "--endpoints NAME=URL" in run.result.stderr
    bad = run_pack("connector-tier", None, tmp_path / "run2", "--endpoints", "nginx")
    assert bad.code == 2 and "expected NAME=https://host:port" in bad.result.stderr


@pytest.mark.parametrize(("pack", "args", "needs"), [
    ("agent-storm", ("--agents", "5000"), "--agents 5000"),
    ("bulk-renewal", ("--certs", "100"), "--certs 100"),
    ("acme-burst", (), "--certs 10000"),
])
def test_missing_fixture_is_refused(empty_target: RunningTarget, tmp_path: Path, pack: str,
                                    args: tuple[str, ...], needs: str) -> None:
    run = run_pack(pack, empty_target, tmp_path / "run", "--duration", "1s", *args)
    assert run.code == 2, run.result.stderr
    line = run.result.stderr.strip().splitlines()[-1]
    assert line.startswith("fleetload: error:")
    assert "fleetload seed --target " in line and needs in line and "--seed" in line


def test_seed_through_the_api_is_idempotent(empty_target: RunningTarget, tmp_path: Path) -> None:
    args = ("--seed", "--agents", "30", "--heartbeat-interval", "1s", "--duration", "1s")
    first = run_pack("agent-storm", empty_target, tmp_path / "a", *args)
    assert first.code == 0, first.result.stderr
    assert "agents added 30, skipped 0" in first.result.stderr
    assert near(first.count("iterations{scenario:heartbeat}"), 30)
    second = run_pack("agent-storm", empty_target, tmp_path / "b", *args)
    assert second.code == 0, second.result.stderr
    assert "agents added 0, skipped 30" in second.result.stderr
    assert api(empty_target, "GET", "/api/v1/agents?per_page=1")["total"] == 30


def test_seed_the_database_directly(empty_target: RunningTarget, tmp_path: Path) -> None:
    args = ("--seed", db_url(empty_target), "--certs", "100", "--batch-size", "10",
            "--duration", "1s")
    first = run_pack("bulk-renewal", empty_target, tmp_path / "a", *args)
    assert first.code == 0, first.result.stderr
    assert "seeded via sqlite" in first.result.stderr
    assert "certificates added 100, skipped 0" in first.result.stderr
    assert first.count("bulk_renewal_jobs_enqueued") == 50
    second = run_pack("bulk-renewal", empty_target, tmp_path / "b", *args)
    assert second.code == 0, second.result.stderr
    assert "certificates added 0, skipped 100" in second.result.stderr
    certs = api(empty_target, "GET", "/api/v1/certificates?per_page=1")["total"]
    assert certs == 100
