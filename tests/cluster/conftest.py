"""A local three-node Ray cluster for the tests that need one, started and
shut down here (the modules that use it skip themselves without Ray)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

NODES = 3
_NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="package")
def cluster() -> Iterator[Any]:
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


__all__ = ["NODES", "ensure_nodes"]
