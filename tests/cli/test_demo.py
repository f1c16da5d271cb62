"""The first-run job: `fleetload demo` end to end (target, seed, mixed load)."""

from __future__ import annotations

import json
from pathlib import Path

from fleetload import __version__
from tests.conftest import run_cli


def test_version():
    r = run_cli("--version")
    assert r.code == 0 and __version__ in r.stdout


def test_demo_runs_end_to_end(tmp_path: Path):
    r = run_cli("demo", "--duration", "4s", "--agents", "300", "--certs", "600",
                "--results-dir", str(tmp_path), "--stats-interval", "2s", timeout=180)
    assert r.code == 0, r.stderr[-2000:]
    assert "[4/4] stopping the target." in r.stderr
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1
    summary = json.loads((runs[0] / "summary.json").read_text())
    scenarios = summary["scenarios"]
    assert scenarios["heartbeats"]["iterations"] == 40  # 300 agents / 30 s over 4 s
    assert scenarios["create_certificates"]["http_reqs"] > 0
    assert scenarios["bulk_renewal"]["iterations"] == 1
    assert summary["metrics"]["http_req_failed"]["values"]["rate"] == 0
    assert summary["meta"]["target_version"]["name"] == "fleetplane"
    assert "verdict: PASSED" in r.stdout
