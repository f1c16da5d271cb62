"""``--output prometheus`` scraped and ``--output prometheus-rw`` received by a
real Prometheus (2.42, Debian): the run's request counts in Prometheus equal
summary.json's."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.conftest import StubServer, run_cli
from tests.outputs.conftest import MIXED, Prometheus, scenario_totals, summary_of


def test_prometheus_scrapes_the_run(prometheus: Prometheus, stub: StubServer,
                                    tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=4s",
                "-o", f"prometheus=127.0.0.1:{prometheus.scrape_port}", "--out", str(out),
                "--quiet", "--allow-inconclusive")
    assert r.code == 0, r.stderr
    summary = summary_of(out)
    run_id = summary["run"]["id"]
    expected = scenario_totals(summary)
    sel = f'run_id="{run_id}",job="fleetload"'
    reqs = prometheus.by_scenario(
        f"sum by (scenario) (max_over_time(fleetload_http_reqs_total{{{sel}}}[5m]))")
    assert reqs == {name: v[0] for name, v in expected.items()}
    failures = prometheus.query(
        f"max_over_time(fleetload_http_req_failures_total{{{sel}}}[5m])")
    assert [(f["metric"]["scenario"], f["metric"]["reason"], float(f["value"][1]))
            for f in failures] == [("flaky", "503 Service Unavailable", expected["flaky"][1])]
    count = prometheus.by_scenario(
        f"sum by (scenario) (max_over_time(fleetload_http_req_duration_seconds_count{{{sel}}}[5m]))")
    assert count == reqs
    checks = prometheus.by_scenario(
        f'sum by (scenario) (max_over_time(fleetload_checks_total{{{sel},result="fail"}}[5m]))')
    assert checks == {"steady": 0.0, "flaky": expected["flaky"][1]}
    # The endpoint is gone once the run is over.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{prometheus.scrape_port}/metrics", timeout=2)


def test_a_port_in_use_is_one_line(prometheus: Prometheus, stub: StubServer,
                                   tmp_path: Path) -> None:
    r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=1s",
                "-o", f"prometheus=127.0.0.1:{prometheus.port}", "--out", str(tmp_path / "run"),
                "--quiet", "--allow-inconclusive")
    assert r.code == 2
    assert r.stderr.strip() == (f"fleetload: error: --output prometheus: cannot listen on "
                                f"127.0.0.1:{prometheus.port}: Address already in use")
