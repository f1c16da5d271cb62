"""``fleetload report RUN --serve``: a finished run in the dashboard's page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fleetplane.launch import free_port
from tests.conftest import ROOT, StubServer, run_cli


def test_a_finished_run_is_served_with_its_intervals(stub: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run_cli("run", "--url", f"{stub.url}/ok", "--vus", "2", "--duration", "2s",
                "--quiet", "--out", str(out))
    assert r.code == 0, r.stderr
    rows = [json.loads(line) for line in (out / "timeline.jsonl").read_text().splitlines()]
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "fleetload", "report", str(out), "--serve",
                             f"127.0.0.1:{port}"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    page = resp.read().decode()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.2)
        assert "<title>" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/events", timeout=10) as resp:
            line = resp.readline().decode()
        event = json.loads(line.removeprefix("data: "))
        assert event["finished"] == "finished: PASSED (exit 0)"
        assert event["charts"]  # the report's charts, from every interval
        reqs = sum(row["scenarios"]["default"]["reqs"] for row in rows)
        summary = json.loads((out / "summary.json").read_text())
        assert reqs == summary["metrics"]["http_reqs"]["values"]["count"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_needs_host_and_port(stub: StubServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", "--url", f"{stub.url}/ok", "--vus", "1", "--duration", "1s",
                   "--quiet", "--out", str(out)).code == 0
    bad = run_cli("report", str(out), "--serve", "nowhere")
    assert bad.code == 2
    assert bad.stderr.strip() == ("fleetload: error: --serve 'nowhere': expected HOST:PORT, "
                                  "e.g. 127.0.0.1:5665")
