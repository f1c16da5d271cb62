"""Baselines: record, compare (bootstrap significance), methodology warnings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np

from fleetload.baseline import bootstrap
from fleetload.baseline.data import SparseHistograms
from fleetload.metrics.histogram import Histogram
from tests.conftest import run_cli
from tests.support.runs import mixed_run

METRICS = ["http_req_duration p50", "http_req_duration p95", "http_req_duration p99",
           "http_req_latency p99", "error rate", "iteration rate"]


def record(run, store, name="main", *extra):
    return run_cli("baseline", "record", str(run.path), "--name", name, "--store", str(store), *extra)


def test_record_then_compare_with_itself_is_no_significant_change(fast_run, store, tmp_path):
    r = record(fast_run, store)
    assert r.code == 0, r.stderr
    for f in ("summary.json", "meta.json", "intervals.hlog", "timeline.jsonl", "baseline.json"):
        assert (store / "main" / f).is_file()
    again = record(fast_run, store)
    assert again.code == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert record(fast_run, store, "main", "--force").code == 0
    assert record(fast_run, store, "../evil").code == 2

    out = tmp_path / "cmp.json"
    c = run_cli("compare", str(fast_run.path), "--baseline", "main", "--store", str(store),
                "--fail-on-regression", "10", "--json", str(out))
    assert c.code == 0, c.stdout + c.stderr
    assert "WARNING" not in c.stdout and "warning" not in c.stderr
    data = json.loads(out.read_text())
    assert data["exit_code"] == 0 and data["warnings"] == []
    got = {(m["scenario"], m["metric"]): m["verdict"] for m in data["metrics"]}
    assert got == {(sc, m): "no significant change" for sc in ("api", "browse") for m in METRICS}
    for m in data["metrics"]:
        assert m["change_pct"] == 0.0
        lo, hi = m["ci95"]
        assert lo <= 0 <= hi


def test_slower_server_is_a_regression_and_fails_the_gate(fast_run, slow_run, store, tmp_path):
    assert record(fast_run, store).code == 0
    out, junit = tmp_path / "cmp.json", tmp_path / "cmp.xml"
    c = run_cli("compare", str(slow_run.path), "--baseline", "main", "--store", str(store),
                "--fail-on-regression", "10", "--json", str(out), "--junit", str(junit))
    assert c.code == 1, c.stdout + c.stderr
    assert "FAILED" in c.stdout
    data = json.loads(out.read_text())
    verdicts = {(m["scenario"], m["metric"]): m for m in data["metrics"]}
    for metric in ("http_req_duration p50", "http_req_duration p95", "http_req_latency p99"):
        m = verdicts[("api", metric)]
        assert m["verdict"] == "regression", m
        assert m["change_pct"] > 100 and m["ci95"][0] > 0
    # The browse scenario did not change (20 ms in both runs).
    assert verdicts[("browse", "http_req_duration p50")]["verdict"] == "no significant change"
    assert data["exit_code"] == 1
    # JUnit agrees with the exit code: regressions are failures, the rest pass.
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 12
    failed = {(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None}
    assert ("fleetload.compare.api", "http_req_duration p50") in failed
    assert all(cls == "fleetload.compare.api" for cls, _ in failed)
    assert int(root.get("failures")) == len(failed)

    # Without the gate the comparison reports but passes; a high gate passes too.
    assert run_cli("compare", str(slow_run.path), "--baseline", "main",
                   "--store", str(store)).code == 0
    assert run_cli("compare", str(slow_run.path), "--baseline", "main", "--store", str(store),
                   "--fail-on-regression", "100000").code == 0


def test_compare_warns_when_methodology_differs(fast_run, shared_stub, store, tmp_path):
    assert record(fast_run, store).code == 0
    short = mixed_run(shared_stub, tmp_path / "short", DUR="2s", RATE="20", MS="2")
    assert short.code == 0, short.stderr
    c = run_cli("compare", str(short.path), "--baseline", "main", "--store", str(store))
    assert c.code == 0, c.stderr
    assert "WARNING: methodology: duration differs by more than 10%" in c.stdout
    assert "scenario api executor options differ" in c.stdout and "rate 40.0 -> 20.0" in c.stdout
    assert "warning: methodology differs: duration" in c.stderr


def test_compare_errors_exit_2(fast_run, store):
    r = run_cli("compare", str(fast_run.path), "--baseline", "nope", "--store", str(store))
    assert r.code == 2 and "no baseline 'nope'" in r.stderr
    r = run_cli("compare", "no-such-run", "--baseline", str(fast_run.path))
    assert r.code == 2 and "no run" in r.stderr


# -- the statistics on synthetic data ------------------------------------------------------
def intervals(rng: np.random.Generator, n: int, scale_ms: float) -> SparseHistograms:
    rows = []
    for _ in range(n):
        h = Histogram()
        h.record_seconds(list(rng.lognormal(np.log(scale_ms / 1000), 0.3, 200)))
        rows.append(h.counts.copy())
    counts = np.stack(rows).astype(np.float64)
    nz = np.nonzero(counts.sum(axis=0))[0]
    return SparseHistograms(nz, counts[:, nz])


def ci(base: np.ndarray, now: np.ndarray) -> tuple[float, float]:
    rel = (now - base) / base * 100
    lo, hi = np.percentile(rel, [2.5, 97.5])
    return float(lo), float(hi)


def test_bootstrap_separates_noise_from_a_shift():
    rng = np.random.default_rng(7)
    a, b = intervals(rng, 30, 10.0), intervals(rng, 30, 10.0)
    shifted = intervals(rng, 30, 12.0)
    boot = bootstrap.new_rng()
    p95_a = bootstrap.percentile(a, 95, boot)
    lo, hi = ci(p95_a, bootstrap.percentile(b, 95, boot))
    assert lo < 0 < hi  # same distribution: the CI holds 0
    lo, hi = ci(p95_a, bootstrap.percentile(shifted, 95, boot))
    assert lo > 5  # a 20 % shift is outside the noise
    rates = bootstrap.ratio(np.full(10, 3.0), np.full(10, 100.0), boot)
    assert rates is not None and np.allclose(rates, 0.03)
