"""``fleetload ceiling --cluster``: every step on the local three-node Ray
cluster against nginx, each step's merged count checked against nginx's own;
a node lost in a step ends the search on the steps measured before."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.cluster.conftest import NODES, LoseANode
from tests.conftest import run_cli
from tests.support.nginx import nginx_server

pytest.importorskip("ray", reason="ray is not installed (pip install 'fleetload[ray]'): "
                    "the cluster tests need it")

SCRIPT = Path(__file__).parent / "scripts" / "stepped.py"
LOCATIONS = 'location /ok { return 200 "ok"; }'
WARMUP, WINDOW = 1, 2  # seconds: each step runs 3 s


def served(log: Path) -> list[dict[str, str]]:
    """The steps' requests in nginx's own log (the preflight probe has no run)."""
    rows = []
    for line in log.read_text().splitlines():
        query = parse_qs(urlsplit(line.split('"')[1].split()[1]).query)
        if "run" in query:
            rows.append({k: v[0] for k, v in query.items()})
    return rows


def ceiling(url: str, out: Path, address: str, *extra: str) -> tuple[Any, dict[str, Any]]:
    r = run_cli("ceiling", str(SCRIPT), "-e", f"TARGET={url}", "--slo", "p(99)<2000",
                "--from", "10", "--factor", "2", "--step-duration", f"{WINDOW}s",
                "--warmup", f"{WARMUP}s", "--no-cooldown", "--cluster", address,
                "--workers", "1", "--out", str(out), *extra, timeout=240)
    path = out / "ceiling.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return r, report


def step_summary(step: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(step["run_dir"]) / "summary.json").read_text())
    return data


def test_every_step_runs_on_every_node_and_merges_exactly(cluster: Any, tmp_path: Path) -> None:
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        r, report = ceiling(url, tmp_path / "ceiling", cluster.client_address, "--to", "20")
    assert r.code == 0, r.stdout + r.stderr
    assert report["status"] == "no-break"
    assert [s["rate"] for s in report["steps"]] == [10, 20]
    per_run = Counter(row["run"] for row in served(tmp_path / "access.log"))
    assert len(per_run) == 2
    for step in report["steps"]:
        summary = step_summary(step)
        scheduled = step["rate"] * (WARMUP + WINDOW)
        assert summary["scenarios"]["stepped"]["schedule"]["scheduled_iterations"] == scheduled
        merged = summary["metrics"]["http_reqs"]["values"]["count"]
        assert merged == scheduled == per_run[summary["run"]["id"]], step["rate"]
        # Every node ran its share of the step: workers 0, 1 and 2 of 3.
        assert [n["workers"] for n in step["nodes"]] == [[0], [1], [2]]
        assert step["lost_nodes"] == []
        assert step["generator_cpu_pct"] is not None and step["generator_cpu_pct"] > 0
    rows = served(tmp_path / "access.log")
    assert {row["w"] for row in rows} == {"0", "1", "2"}
    cluster_part = report["cluster"]
    assert cluster_part["address"] == cluster.client_address
    assert cluster_part["node_count"] == NODES and cluster_part["workers_per_node"] == 1
    assert len({n["id"] for n in cluster_part["nodes"]}) == NODES
    assert cluster_part["lost_nodes"] == []
    hosts = ", ".join(f"{n['hostname']} ({n['address']})" for n in cluster_part["nodes"])
    assert f"cluster {cluster.client_address}: 3 nodes x 1 worker(s): {hosts}" in r.stdout


def test_a_node_lost_in_a_step_ends_the_search_on_the_steps_before(
        cluster: Any, lose_a_node: LoseANode, tmp_path: Path) -> None:
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        # Step 0 (10/s) sends 30 requests, step 1 (20/s) 60: the node goes mid step 1.
        remover = lose_a_node(tmp_path / "access.log", 1 + 30 + 20)
        r, report = ceiling(url, tmp_path / "ceiling", cluster.address, "--to", "80",
                            "--lease", "2s")
        remover.join()
    assert r.code == 4, r.stdout + r.stderr
    assert report["status"] == "node-lost"
    first, second = report["steps"]
    assert first["verdict"] == "ok" and second["verdict"] == "node-lost"
    (lost,) = second["lost_nodes"]
    assert report["stop_reason"].startswith(
        f"node {lost['node']} ({lost['address']}) lost: ")
    assert report["stop_reason"].endswith(
        "during the step at 20/s: the ceiling stands on the steps measured before it")
    # Bounded by what was measured in full: step 0.
    assert report["ceiling_rate"] == 10 and report["ceiling_is_lower_bound"]
    assert report["highest_rate_measured"] == 10
    assert [(n["step"], n["rate"]) for n in report["cluster"]["lost_nodes"]] == [(1, 20)]
    assert f"lost in step 1 (20/s): node {lost['node']} (" in r.stdout
    assert "node lost at 20/s: that step did not offer its load" in r.stdout
    # The lost step's own run says so too.
    run = step_summary(second)["run"]
    assert run["verdict"] == "inconclusive" and run["exit_code"] == 4


def test_an_unreachable_cluster_is_one_line_before_any_step(tmp_path: Path) -> None:
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        r, report = ceiling(url, tmp_path / "ceiling", "127.0.0.1:9", "--to", "20")
    assert r.code == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "fleetload: error: cannot reach the Ray cluster at 127.0.0.1:9: Connection refused")
    assert report == {} and served(tmp_path / "access.log") == []
