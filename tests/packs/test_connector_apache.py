"""connector-tier against its three TLS deployment targets at once: nginx,
HAProxy and Apache httpd, each a real server with a certificate made here.
Apache's access log is the server-side count of what the pack sent it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers.apache_server import ApacheServer, apache_tls, missing

from .conftest import Tls, run_pack
from .test_packs import assert_scenarios_add_up, near

TARGETS = ("nginx", "haproxy", "apache")


@pytest.fixture(scope="module")
def apache(tmp_path_factory: pytest.TempPathFactory, tls_files: Tls) -> Iterator[ApacheServer]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    with apache_tls(tmp_path_factory.mktemp("apache"), tls_files.cert, tls_files.key) as server:
        yield server


def settled_lines(apache: ApacheServer, want: int, timeout: float = 5.0) -> list[str]:
    """The access log once it holds ``want`` lines (Apache logs after answering)."""
    deadline = time.monotonic() + timeout
    lines = apache.access_lines()
    while len(lines) < want and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = apache.access_lines()
    return lines


def test_connector_tier_against_nginx_haproxy_and_apache(
        nginx_tls: str, haproxy_tls: str, apache: ApacheServer, tls_files: Tls,
        tmp_path: Path) -> None:
    before = len(apache.access_lines())
    urls = {"nginx": nginx_tls, "haproxy": haproxy_tls, "apache": apache.url}
    endpoints = [arg for name in TARGETS for arg in ("--endpoint", f"{name}={urls[name]}")]
    # --max-lag: 20 starts per target make the lag p99 their maximum, and one
    # stall of the shared test machine would call the run inconclusive.
    run = run_pack("connector-tier", None, tmp_path / "run", *endpoints,
                   "--connections-per-minute", "600", "--duration", "2s",
                   "--ca-cert", str(tls_files.cert), "--max-lag", "50ms")
    assert run.code == 0, run.result.stdout + run.result.stderr
    assert_scenarios_add_up(run, list(TARGETS))
    section = run.summary["connector_tier"]
    assert list(section) == list(TARGETS)
    for name in TARGETS:
        s = section[name]
        assert s["url"] == urls[name]
        assert s["error_rate"] == 0.0 and near(s["iterations"], 20), (name, s)
        for part in ("connect_ms", "tls_handshake_ms", "request_ms", "connection_ms"):
            assert s[part]["count"] == s["iterations"], (name, part)
            assert s[part]["p95"] >= s[part]["p50"] >= 0, (name, part)
        assert s["tls_handshake_ms"]["p50"] > 0 and s["connect_ms"]["p50"] > 0
    # The contract held for every target (p95, p99 and failed rate each).
    assert len(run.summary["thresholds"]) == 3 * len(TARGETS)
    assert all(t["ok"] for t in run.summary["thresholds"]), run.summary["thresholds"]
    assert {t["metric"] for t in run.summary["thresholds"]} >= {
        "connector_connection_time{scenario:apache}", "http_req_failed{scenario:apache}"}
    # Apache logged exactly what the pack counted for it: each a 200 on a new TLS session.
    sent = run.count("http_reqs{scenario:apache}")
    assert sent == section["apache"]["iterations"]
    lines = settled_lines(apache, before + int(sent))[before:]
    assert len(lines) == sent == apache.requests_logged() - before
    assert all(' 200 "GET / HTTP/1.1" ' in line and line.endswith(" Initial")
               for line in lines), lines[:3]
