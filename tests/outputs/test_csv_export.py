"""``--output csv=FILE`` during a run and ``fleetload export`` afterwards:
the same tidy rows, whose totals are summary.json's."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.outputs.conftest import MIXED, scenario_totals, summary_of


def _totals(rows: list[dict[str, str]]) -> dict[str, tuple[float, float]]:
    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        if r["metric"] == "http_reqs" and r["stat"] == "count":
            acc[r["scenario"]][0] += float(r["value"])
        elif r["metric"] == "http_req_failed" and r["stat"] == "count":
            acc[r["scenario"]][1] += float(r["value"])
    return {k: (v[0], v[1]) for k, v in acc.items()}


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tests.conftest import start_stub

    stub = start_stub()
    try:
        tmp = tmp_path_factory.mktemp("csv")
        out, csv_file = tmp / "run", tmp / "live" / "rows.csv"
        r = run_cli("run", str(MIXED), "-e", f"TARGET={stub.url}", "-e", "DUR=3s",
                    "--output", f"csv={csv_file}", "--out", str(out), "--quiet", "--allow-inconclusive")
        assert r.code == 0, r.stderr
    finally:
        stub.proc.terminate()
        stub.proc.wait(5)
    return out, csv_file


def test_live_csv_totals_equal_the_summary(csv_run: tuple[Path, Path]) -> None:
    out, csv_file = csv_run
    text = csv_file.read_text()
    assert text.splitlines()[0] == "time,scenario,metric,stat,value"
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = scenario_totals(summary_of(out))
    assert expected["steady"][0] == 120 and expected["flaky"][0] == 30
    assert expected["flaky"][1] == 10
    assert _totals(rows) == expected
    reasons = [r for r in rows if r["metric"] == "fail_reason"]
    assert {r["stat"] for r in reasons} == {"503 Service Unavailable"}
    assert sum(float(r["value"]) for r in reasons) == 10
    p95 = [r for r in rows if r["metric"] == "http_req_duration" and r["stat"] == "p95"]
    assert {r["scenario"] for r in p95} == {"steady", "flaky"}
    assert all(float(r["value"]) > 0 for r in p95)


def test_export_gives_the_live_rows(csv_run: tuple[Path, Path]) -> None:
    out, csv_file = csv_run
    r = run_cli("export", str(out), "--format", "csv")
    assert r.code == 0, r.stderr
    live = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    exported = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["time"], x["scenario"], x["metric"], x["stat"]) for x in exported] == \
           [(x["time"], x["scenario"], x["metric"], x["stat"]) for x in live]
    for a, b in zip(live, exported, strict=True):
        if a["stat"] in ("p50", "p95", "p99", "max"):
            # The interval log keeps buckets (3 significant digits) and max to the µs.
            assert float(b["value"]) == pytest.approx(float(a["value"]), rel=2e-3, abs=2e-3)
        else:
            assert a["value"] == b["value"], (a, b)
    assert _totals(exported) == scenario_totals(summary_of(out))


def test_export_ndjson_to_a_file(csv_run: tuple[Path, Path], tmp_path: Path) -> None:
    out, _ = csv_run
    target = tmp_path / "rows.ndjson"
    r = run_cli("export", str(out), "--format", "ndjson", "-o", str(target))
    assert r.code == 0, r.stderr
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert f"export: {len(records)} rows to {target}" in r.stderr
    assert set(records[0]) == {"time", "scenario", "metric", "stat", "value"}
    reqs = sum(x["value"] for x in records if x["metric"] == "http_reqs")
    assert reqs == 150


def test_export_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    r = run_cli("export", "nope", "--results-dir", str(tmp_path))
    assert r.code == 2
    assert r.stderr.strip() == f"fleetload: error: no run 'nope' in {tmp_path} " \
                               f"(see 'fleetload runs --results-dir {tmp_path}')"


@pytest.mark.parametrize(("spec", "message"), [
    ("csv", "--output csv: expected KIND=WHERE, one of csv=FILE, prometheus=HOST:PORT, "
            "prometheus-rw=URL, dashboard=HOST:PORT"),
    ("statsd=localhost:8125", "--output statsd=localhost:8125: unknown output kind 'statsd'; "
                              "one of csv=FILE, prometheus=HOST:PORT, prometheus-rw=URL, "
                              "dashboard=HOST:PORT"),
    ("csv=", "--output csv=: csv needs FILE"),
    ("prometheus=host:http", "--output prometheus=host:http: expected HOST:PORT, got 'host:http'"),
    ("prometheus=:70000", "--output prometheus=:70000: port 70000 is out of range (0-65535)"),
    ("prometheus-rw=ftp://u:secret@x/w", "--output prometheus-rw=ftp://x/w: expected an http(s) "
                                         "URL such as http://127.0.0.1:9090/api/v1/write"),
])
def test_bad_output_specs_are_one_line(spec: str, message: str, tmp_path: Path) -> None:
    r = run_cli("run", str(MIXED), "-e", "TARGET=http://127.0.0.1:1", "-o", spec,
                "--no-preflight",
                "--results-dir", str(tmp_path))
    assert r.code == 2
    assert r.stderr.strip() == f"fleetload: error: {message}"
    assert "secret" not in r.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("spec", "module", "message"), [
    ("prometheus-rw=http://127.0.0.1:9090/api/v1/write", "cramjam",
     "--output prometheus-rw needs the 'prometheus' extra (missing module cramjam): "
     "pip install 'fleetload[prometheus]'"),
])
def test_a_missing_extra_is_named(spec: str, module: str, message: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fleetload.errors import ConfigError
    from fleetload.outputs.registry import build_output

    monkeypatch.setitem(sys.modules, module, None)  # type: ignore[arg-type]
    monkeypatch.delitem(sys.modules, "fleetload.outputs.remote_write", raising=False)
    with pytest.raises(ConfigError) as info:
        build_output(spec)
    assert str(info.value) == message


def test_sparse_percentiles_are_the_histograms() -> None:
    """The live rows' percentiles (sparse buckets of several series) are
    those of a full histogram of the same series."""
    import random

    from fleetload.metrics.histogram import Binned, Histogram
    from fleetload.outputs.tidy import SparseHistogram

    rng = random.Random(7)
    parts = [Binned.from_seconds([rng.lognormvariate(-7, 1.5) for _ in range(n)])
             for n in (1, 500, 5000)]
    parts.append(Binned.from_seconds([0.0, 0.0, 0.25]))
    dense, sparse = Histogram(), SparseHistogram()
    for b in parts:
        dense.add_binned(b)
        sparse.add_binned(b)
    ps = [0.0, 1.0, 50.0, 95.0, 99.0, 99.99, 100.0]
    assert sparse.count == dense.count == 5504
    assert sparse.percentiles(ps) == dense.percentiles(ps)
    assert sparse.max == dense.max == 250_000.0
