"""``--output prometheus`` scraped and ``--output prometheus-rw`` received by a
real Prometheus (2.42, Debian): the run's request counts in Prometheus equal
summary.json's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT, StubServer, run_cli
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


def test_the_scraped_text_is_the_runs_numbers(stub: StubServer, tmp_path: Path) -> None:
    """The /metrics text (prometheus-client's rendering of the collector)
    parses with prometheus-client's parser, and its last scrape holds
    summary.json's totals."""
    from prometheus_client.parser import text_string_to_metric_families

    from fleetplane.launch import free_port

    port, out = free_port(), tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetload", "run", str(MIXED), "-e", f"TARGET={stub.url}",
         "-e", "DUR=3s", "-o", f"prometheus=127.0.0.1:{port}", "--out", str(out), "--quiet",
         "--allow-inconclusive"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    last, content_type = "", ""
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    last, content_type = r.read().decode(), r.headers["Content-Type"]
            except OSError:
                pass
            time.sleep(0.3)
        assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert content_type.startswith("text/plain; version=0.0.4")
    summary = summary_of(out)
    run_id = summary["run"]["id"]
    families = {fam.name: fam for fam in text_string_to_metric_families(last)}
    assert families["fleetload_http_reqs"].type == "counter"
    assert families["fleetload_http_req_duration_seconds"].type == "histogram"
    reqs: dict[str, float] = defaultdict(float)
    failed: dict[str, float] = defaultdict(float)
    counts: dict[str, float] = defaultdict(float)
    for sample in families["fleetload_http_reqs"].samples:
        assert sample.labels["run_id"] == run_id
        reqs[sample.labels["scenario"]] += sample.value
    for sample in families["fleetload_http_req_failures"].samples:
        assert sample.labels["reason"] == "503 Service Unavailable"
        failed[sample.labels["scenario"]] += sample.value
    for sample in families["fleetload_http_req_duration_seconds"].samples:
        if sample.name.endswith("_count"):
            counts[sample.labels["scenario"]] += sample.value
    expected = scenario_totals(summary)
    assert dict(reqs) == {name: v[0] for name, v in expected.items()}
    assert dict(failed) == {name: v[1] for name, v in expected.items() if v[1]}
    assert dict(counts) == dict(reqs)
    intervals = len((out / "timeline.jsonl").read_text().splitlines())
    [elapsed] = families["fleetload_elapsed_seconds"].samples
    assert elapsed.value == pytest.approx(summary["run"]["elapsed"], abs=1.0)
    assert intervals >= 3


def test_a_port_in_use_is_one_line(prometheus: Prometheus, stub: StubServer,
                                   tmp_path: Path) -> None:
    r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=1s",
                "-o", f"prometheus=127.0.0.1:{prometheus.port}", "--out", str(tmp_path / "run"),
                "--quiet", "--allow-inconclusive")
    assert r.code == 2
    assert r.stderr.strip() == (f"fleetload: error: --output prometheus: cannot listen on "
                                f"127.0.0.1:{prometheus.port}: Address already in use")


def test_prometheus_receives_remote_write(prometheus: Prometheus, stub: StubServer,
                                          tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=3s",
                "-o", f"prometheus-rw={prometheus.url}/api/v1/write", "--out", str(out),
                "--quiet", "--allow-inconclusive")
    assert r.code == 0, r.stderr
    assert "warning" not in r.stderr
    summary = summary_of(out)
    run_id = summary["run"]["id"]
    expected = scenario_totals(summary)
    # Remote-written series have no job label (scraped ones do).
    sel = f'run_id="{run_id}",job=""'
    reqs = prometheus.by_scenario(
        f"sum by (scenario) (max_over_time(fleetload_http_reqs_total{{{sel}}}[5m]))")
    assert reqs == {name: v[0] for name, v in expected.items()}
    failed = prometheus.by_scenario(
        f"sum by (scenario) (max_over_time(fleetload_http_req_failures_total{{{sel}}}[5m]))")
    assert failed == {"flaky": expected["flaky"][1]}
    intervals = len((out / "timeline.jsonl").read_text().splitlines())
    samples = prometheus.query(f"count_over_time(fleetload_elapsed_seconds{{{sel}}}[5m])")
    assert float(samples[0]["value"][1]) == intervals
    report = {"kind": "prometheus-rw", "url": f"{prometheus.url}/api/v1/write",
              "pushed": intervals, "dropped": 0, "last_error": None}
    assert summary["meta"]["remote_write"] == [report]
    assert json.loads((out / "meta.json").read_text())["remote_write"] == [report]
    _check_grafana_queries(prometheus, run_id)


def _check_grafana_queries(prometheus: Prometheus, run_id: str) -> None:
    """Every query of docs/grafana-fleetload.json is valid PromQL, and the
    request panels find the run."""
    dashboard = json.loads((ROOT / "docs" / "grafana-fleetload.json").read_text())
    found = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = (target["expr"].replace("$run_id", run_id).replace("$scenario", ".*")
                    .replace("$__rate_interval", "1m"))
            found[panel["title"]] = prometheus.query(expr)
    assert found["Requests per second"] and found["Requests so far"]


def test_a_dead_prometheus_does_not_stop_the_run(stub: StubServer, tmp_path: Path) -> None:
    from fleetplane.launch import free_port

    dead = f"http://user:hunter2@127.0.0.1:{free_port()}/api/v1/write"
    out = tmp_path / "run"
    started = time.monotonic()
    r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=2s",
                "-o", f"prometheus-rw={dead}", "--out", str(out), "--quiet",
                "--allow-inconclusive")
    took = time.monotonic() - started
    assert r.code == 0, r.stderr
    summary = summary_of(out)
    assert scenario_totals(summary) == {"steady": (80, 0), "flaky": (20, 7)}
    [report] = summary["meta"]["remote_write"]
    intervals = len((out / "timeline.jsonl").read_text().splitlines())
    assert report["pushed"] == 0 and report["dropped"] == intervals
    assert "Connection refused" in report["last_error"]
    shown = dead.replace("user:hunter2@", "")
    assert report["url"] == shown
    assert (f"fleetload: warning: prometheus remote write {shown}: {intervals} of "
            f"{intervals} pushes dropped") in r.stderr
    assert "hunter2" not in r.stderr + r.stdout + (out / "summary.json").read_text() \
        + (out / "meta.json").read_text()
    assert took < 15


def test_write_request_encoding() -> None:
    import cramjam
    from prometheus_client.core import CounterMetricFamily

    from fleetload.outputs.remote_write import encode, write_request_class

    fam = CounterMetricFamily("fleetload_http_reqs", "HTTP requests", labels=["scenario", "a"])
    fam.add_metric(["s1", "x"], 42)
    body = encode([fam], 1_700_000_000_123)
    req = write_request_class()()
    req.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    [ts] = req.timeseries
    assert [(label.name, label.value) for label in ts.labels] == [
        ("__name__", "fleetload_http_reqs_total"), ("a", "x"), ("scenario", "s1")]
    assert [(s.value, s.timestamp) for s in ts.samples] == [(42.0, 1_700_000_000_123)]


def test_a_silent_prometheus_does_not_slow_the_run(stub: StubServer, tmp_path: Path) -> None:
    # A listener that never accepts: connections open, requests go unanswered.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        out = tmp_path / "run"
        started = time.monotonic()
        r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=2s",
                    "-o", f"prometheus-rw=http://127.0.0.1:{silent.getsockname()[1]}/w",
                    "--out", str(out), "--quiet", "--allow-inconclusive")
        took = time.monotonic() - started
    finally:
        silent.close()
    assert r.code == 0, r.stderr
    summary = summary_of(out)
    assert scenario_totals(summary) == {"steady": (80, 0), "flaky": (20, 7)}
    assert summary["run"]["elapsed"] < 3.5  # the schedule was not held up
    [report] = summary["meta"]["remote_write"]
    intervals = len((out / "timeline.jsonl").read_text().splitlines())
    assert report["pushed"] == 0 and report["dropped"] == intervals
    assert "timed out" in report["last_error"]
    # At most the flush timeout (5 s) beyond a normal run.
    assert took < 16
