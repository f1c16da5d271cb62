"""Helpers for the outputs' tests: a run's summary, and a run with extra outputs."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
MIXED = SCRIPTS / "mixed.py"


def summary_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data


def scenario_totals(summary: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(requests, failed requests) per scenario, from summary.json."""
    out = {}
    for name, sc in summary["scenarios"].items():
        reqs = sc["http_reqs"]
        out[name] = (reqs, round(sc["http_req_failed_rate"] * reqs))
    return out


PROMETHEUS_BIN = "/usr/bin/prometheus"


class Prometheus:
    """A real Prometheus on loopback: scrapes ``scrape_port`` every second and
    accepts remote write."""

    def __init__(self, tmp: Path) -> None:
        from fleetplane.launch import free_port

        self.port, self.scrape_port = free_port(), free_port()
        config = tmp / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: fleetload\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{self.scrape_port}']\n")
        self.log = (tmp / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [PROMETHEUS_BIN, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not start: {(tmp / 'prometheus.log').read_text()}")
            time.sleep(0.2)
        # Prometheus applies new targets every 5 s: wait for its first (failed)
        # scrape, so a run's endpoint is scraped from its first second.
        while not self._scraping():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("prometheus never scraped its target")
            time.sleep(0.2)

    def _scraping(self) -> bool:
        with urllib.request.urlopen(self.url + "/api/v1/targets", timeout=5) as r:
            targets = json.loads(r.read())["data"]["activeTargets"]
        return bool(targets) and not targets[0]["lastScrape"].startswith("0001")

    def query(self, promql: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{q}", timeout=10) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def by_scenario(self, promql: str) -> dict[str, float]:
        return {x["metric"].get("scenario", ""): float(x["value"][1]) for x in self.query(promql)}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if not os.access(PROMETHEUS_BIN, os.X_OK):
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    server = Prometheus(tmp_path_factory.mktemp("prometheus"))
    yield server
    server.stop()
