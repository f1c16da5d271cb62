"""Runs across a local three-node Ray cluster (one CPU each) against nginx:
exact merged counts, thresholds on merged data, node loss, the start barrier."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fleetload.cluster.options import ClusterOptions
from fleetload.engine.loop import run_async
from fleetload.results.validity import ValidityRules
from fleetload.run.config import RunConfig, RunOutcome
from fleetload.run.coordinator import run_test
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe
from tests.cluster.conftest import NODES, LoseANode
from tests.conftest import run_cli
from tests.support.nginx import nginx_server

pytest.importorskip("ray", reason="ray is not installed (pip install 'fleetload[ray]'): "
                    "the cluster tests need it")

SCRIPT = Path(__file__).parent / "scripts" / "spread.py"
LOCATIONS = 'location /ok { return 200 "ok"; } location /fail { return 500 "no"; }'
# Six processes and Ray on a shared two-core machine: the lag bound is not the point here.
LOOSE = ValidityRules(lag_bound=1.0)


def cluster_run(c: Any, tmp: Path, url: str, *, processes: int = 2, preflight: bool = True,
                **opts: Any) -> RunOutcome:
    env = {"TARGET": url}
    env.update({k.upper(): str(v) for k, v in opts.pop("env", {}).items()})
    recipe = PlanRecipe(Overrides(env=env), script=str(SCRIPT))
    cfg = RunConfig(workers=processes, out=tmp / "run", quiet=True, validity=LOOSE,
                    preflight=preflight,
                    cluster=ClusterOptions(c.address, **opts))
    return run_async(run_test(recipe, cfg))


def served(tmp: Path) -> list[dict[str, int]]:
    """The run's requests in nginx's own log (the preflight probe has no worker)."""
    rows = []
    for line in (tmp / "access.log").read_text().splitlines():
        query = parse_qs(urlsplit(line.split('"')[1].split()[1]).query)
        if "w" in query:
            rows.append({k: int(v[0]) for k, v in query.items()})
    return rows


def meta(tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp / "run" / "meta.json").read_text())
    return data


def test_open_loop_run_merges_every_node_exactly(cluster: Any, tmp_path: Path) -> None:
    # Through the CLI and the Ray client (ray://), as from a machine outside the cluster.
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        r = run_cli("run", str(SCRIPT), "-e", f"TARGET={url}", "-e", "RATE=30", "-e", "DUR=2s",
                    "--cluster", cluster.client_address, "--workers", "2", "--max-lag", "1s",
                    "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 0, r.stdout + r.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    http_reqs = summary["metrics"]["http_reqs"]["values"]["count"]
    rows = served(tmp_path)
    assert http_reqs == 60 == len(rows)  # exactly the scheduled iterations, nginx agrees
    assert summary["scenarios"]["spread"]["schedule"]["scheduled_iterations"] == 60
    nodes = meta(tmp_path)["nodes"]
    assert [n["node"] for n in nodes] == [0, 1, 2]
    assert len({n["id"] for n in nodes}) == NODES
    assert [n["workers"] for n in nodes] == [[0, 1], [2, 3], [4, 5]]
    # Global worker indexes: every worker ran iterations w, w+6, ...; ids never overlap.
    assert {r["w"] for r in rows} == set(range(6))
    assert all(r["n"] % 6 == r["w"] for r in rows)
    assert sorted(r["n"] for r in rows) == list(range(60))
    vus = {g: {r["vu"] for r in rows if r["w"] // 2 == g} for g in range(NODES)}
    assert not (vus[0] & vus[1]) and not (vus[0] & vus[2]) and not (vus[1] & vus[2])


def test_clock_offsets_are_measured_and_the_start_is_shared(cluster: Any, tmp_path: Path) -> None:
    skew = (0.0, 40.0, -7.5)
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        started = time.monotonic()
        out = cluster_run(cluster, tmp_path, url, processes=1, clock_skew=skew,
                          env={"rate": 15, "dur": "2s"})
    assert out.exit_code == 0, out.text
    # A start misread by 40 s would have held node 1 back that long.
    assert time.monotonic() - started < 40
    assert len(served(tmp_path)) == 30 == out.summary["metrics"]["http_reqs"]["values"]["count"]
    for node, injected in zip(meta(tmp_path)["nodes"], skew, strict=True):
        error = abs(node["clock_offset_s"] - injected)
        assert 0 < node["clock_uncertainty_s"] < 0.05
        # Same machine, so the true offset is the injected one.
        assert error <= node["clock_uncertainty_s"] + 0.002, (node, injected)


def test_failing_threshold_aborts_on_merged_data(cluster: Any, tmp_path: Path) -> None:
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        out = cluster_run(cluster, tmp_path, url, processes=1,
                          env={"rate": 15, "dur": "30s", "req_path": "/fail"})
    assert out.exit_code == 99, out.text
    run = out.summary["run"]
    assert run["elapsed"] < 10  # of its 30 s
    assert "abort_on_fail" in run["stopped_by"]
    # Every node's failures reached the merged rate: all three nodes served some.
    rows = served(tmp_path)
    assert {r["w"] for r in rows} == {0, 1, 2}
    assert out.summary["metrics"]["http_reqs"]["values"]["count"] <= len(rows)


def test_too_few_nodes_is_one_clear_error_before_anything_starts(cluster: Any,
                                                                 tmp_path: Path) -> None:
    r = run_cli("run", "--url", "http://127.0.0.1:9/", "--rate", "5", "--duration", "1s",
                "--no-preflight", "--cluster", cluster.address, "--nodes", str(NODES + 1),
                "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 2
    assert r.stderr.strip() == (
        f"fleetload: error: --nodes {NODES + 1}: the Ray cluster at {cluster.address} has "
        f"{NODES} alive node(s) with a free CPU")


def test_a_node_not_polled_for_its_lease_stops_by_itself(cluster: Any, tmp_path: Path) -> None:
    import logging

    import ray

    from fleetload.cluster.ray_nodes import NodeAgent

    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        ray.init(address=cluster.address, logging_level=logging.WARNING)
        actor = None
        try:
            recipe = PlanRecipe(Overrides(env={"TARGET": url, "RATE": "20", "DUR": "30s"}),
                                script=str(SCRIPT))
            actor = ray.remote(NodeAgent).options(num_cpus=1).remote(
                recipe, "lease", 0, 1, 1, 1.0, None, 1.0)
            ray.get(actor.prepare.remote(), timeout=60)
            ray.get(actor.start.remote(ray.get(actor.ping.remote()) + 0.5))
            time.sleep(3.5)  # nobody polls: the lease (1 s) runs out
            done, deadline = False, time.monotonic() + 15
            while not done and time.monotonic() < deadline:
                _, done = ray.get(actor.poll.remote(-1, 1.0))
            assert done
            assert ray.get(actor.stats.remote())["lease_expired"] == 1.0
            sent = len(served(tmp_path))
            time.sleep(1.0)
            assert len(served(tmp_path)) == sent  # it has stopped generating
            assert 0 < sent < 20 * 3.5  # about the lease's worth of its 600 iterations
        finally:
            if actor is not None:
                ray.kill(actor)
            ray.shutdown()


def test_a_lost_node_is_reported_and_the_survivors_data_is_intact(
        cluster: Any, lose_a_node: LoseANode, tmp_path: Path) -> None:
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        remover = lose_a_node(tmp_path / "access.log", 24)
        out = cluster_run(cluster, tmp_path, url, processes=1, on_node_loss="continue",
                          lease=2.0, env={"rate": 12, "dur": "6s"})
        remover.join()
        time.sleep(0.5)
    assert out.exit_code == 4, out.text
    run = out.summary["run"]
    assert run["verdict"] == "inconclusive"
    (lost,) = run["lost_nodes"]
    assert lost["last_interval"] >= 0
    assert lost["unsent_iterations"]["spread"] > 0
    assert any(r.startswith(f"node {lost['node']} (") and "lost" in r
               for r in run["validity"]["reasons"])
    assert f"node {lost['node']} (" in out.text
    rows = served(tmp_path)
    survivors = [r for r in rows if r["w"] != lost["node"]]
    # The survivors ran their whole share (iterations n with n % 3 their index)...
    assert len(survivors) == sum(1 for n in range(72) if n % 3 != lost["node"])
    # ... and every one of their requests is in the merged totals, with the
    # lost node's intervals merged before it went.
    merged = out.summary["metrics"]["http_reqs"]["values"]["count"]
    lost_sent = len(rows) - len(survivors)
    assert len(survivors) <= merged <= len(rows)
    assert lost_sent + lost["unsent_iterations"]["spread"] >= 72 // 3


def test_a_lost_node_stops_the_run_by_default(cluster: Any, lose_a_node: LoseANode,
                                              tmp_path: Path) -> None:
    with nginx_server(tmp_path, LOCATIONS, access_log=True) as url:
        remover = lose_a_node(tmp_path / "access.log", 24)
        out = cluster_run(cluster, tmp_path, url, processes=1, lease=2.0,
                          env={"rate": 12, "dur": "30s"})
        remover.join()
    assert out.exit_code == 4, out.text
    run = out.summary["run"]
    assert run["elapsed"] < 15  # stopped, not run to the end of its 30 s
    (lost,) = run["lost_nodes"]
    assert run["stopped_by"].startswith(f"node {lost['node']} (")
    assert lost["unsent_iterations"]["spread"] > 0
    assert "verdict: INCONCLUSIVE (exit 4)" in out.text
    rows = served(tmp_path)
    survivors = [r for r in rows if r["w"] != lost["node"]]
    merged = out.summary["metrics"]["http_reqs"]["values"]["count"]
    assert len(survivors) <= merged <= len(rows)
