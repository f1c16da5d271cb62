"""The agent fleet on the local three-node Ray cluster against the reference
target: disjoint agent ranges across nodes, every agent registered once, the
merged summary equal to the target's own counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import RunningTarget
from tests.cluster.conftest import NODES
from tests.fleet.conftest import fleet_target, run_agents, run_fleet

pytest.importorskip("ray", reason="ray is not installed (pip install 'fleetload[ray]'): "
                    "the cluster tests need it")

AGENTS = 60


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    with fleet_target(tmp_path_factory, "fleetdb", "--push-task-prob", "0",
                      "--push-check-prob", "0", "--push-inventory-prob", "0") as t:
        yield t


def test_a_fleet_splits_its_agents_across_the_nodes(cluster: Any, target: RunningTarget,
                                                    tmp_path: Path) -> None:
    r = run_fleet(target, tmp_path, "--transport", "http", "--agents", str(AGENTS),
                  "--ramp", "2s", "--duration", "6s", "--heartbeat-interval", "1s",
                  "--work-poll-interval", "1h", "--hostname-prefix", "cl",
                  "--cluster", cluster.address, "--workers", "1", timeout=180)
    assert r.code == 0, r.stderr[-3000:]
    assert r.summary is not None
    nodes = r.summary["meta"]["nodes"]
    assert [n["workers"] for n in nodes] == [[0], [1], [2]]
    assert len({n["id"] for n in nodes}) == NODES
    agents = run_agents(target, r.run_id)
    hostnames = Counter(a["hostname"] for a in agents)
    # Every agent registered exactly once: 60 distinct hostnames, none twice.
    assert len(agents) == AGENTS == len(hostnames)
    assert set(hostnames.values()) == {1}
    assert sorted(hostnames) == sorted(f"cl-{r.run_id}-{i:05d}" for i in range(AGENTS))
    f = r.fleet
    assert f["registrations"] == {"active": AGENTS, "pending": 0, "failed": 0}
    assert f["heartbeats"]["failed"] == 0
    # The merged count of heartbeats is the target's own, but for the few the
    # target recorded whose answers the agents, stopping, no longer waited for
    # (an agent counts a heartbeat once answered). A node's interval missing
    # from the merge would be about 20 short (its 20 agents' second).
    sent, recorded = f["heartbeats"]["sent"], sum(a["heartbeat_count"] for a in agents)
    assert 0 <= recorded - sent <= 10, (sent, recorded)
    assert sent >= AGENTS * 3
    assert all(a["status"] == "Online" for a in agents)
