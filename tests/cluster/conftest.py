"""A local three-node Ray cluster for the tests that need one, started and
shut down here (the modules that use it skip themselves without Ray), and a
node lost on cue for the tests of node loss."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

NODES = 3
_NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="package")
def shared_cluster() -> Iterator[Any]:
    """Started once for the package; tests take it through ``cluster``."""
    from ray.cluster_utils import Cluster

    from fleetplane.launch import free_port

    client_port = free_port()
    c = Cluster(initialize_head=True,
                head_node_args=dict(_NODE, ray_client_server_port=client_port))
    c.client_address = f"ray://127.0.0.1:{client_port}"  # the Ray client's way in
    try:
        for _ in range(NODES - 1):
            c.add_node(**_NODE)
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()


def ensure_nodes(c: Any) -> None:
    """Back to three alive nodes after a test removed one."""
    while len(c.list_all_nodes()) < NODES:
        c.add_node(**_NODE)
    c.wait_for_nodes()


@pytest.fixture
def cluster(shared_cluster: Any) -> Any:
    """The package's cluster with its three nodes alive: a node an earlier test
    lost is replaced here, when a test needs the cluster again (not after the
    last test that loses one)."""
    ensure_nodes(shared_cluster)
    return shared_cluster


LoseANode = Callable[[Path, int], threading.Thread]


@pytest.fixture
def lose_a_node(cluster: Any) -> Iterator[LoseANode]:
    """``lose_a_node(log, lines)`` kills the last worker node (its raylet and
    actors, no grace) once nginx's ``log`` has ``lines`` requests, from the
    thread it returns; the next test taking ``cluster`` gets a new node."""
    threads: list[threading.Thread] = []

    def lose(log: Path, lines: int) -> threading.Thread:
        victim = list(cluster.worker_nodes)[-1]

        def remove() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if log.exists() and len(log.read_text().splitlines()) >= lines:
                    break
                time.sleep(0.05)
            cluster.remove_node(victim, allow_graceful=False)

        t = threading.Thread(target=remove)
        t.start()
        threads.append(t)
        return t

    try:
        yield lose
    finally:
        for t in threads:
            t.join()


__all__ = ["NODES", "LoseANode"]
