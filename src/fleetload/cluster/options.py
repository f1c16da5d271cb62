"""What a cluster run is asked for (``--cluster``, ``--nodes``, ``--lease``,
``--on-node-loss``), and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

OnNodeLoss = Literal["abort", "continue"]
DEFAULT_LEASE = 5.0


@dataclass(frozen=True)
class ClusterOptions:
    address: str
    """``ray://HOST:10001`` (Ray client), ``auto`` (on a cluster node), or a GCS address"""
    nodes: int | None = None
    """how many nodes (one actor each); None: every alive node"""
    lease: float = DEFAULT_LEASE
    on_node_loss: OnNodeLoss = "abort"
    clock_skew: tuple[float, ...] = ()
    """per node, added to its clock readings: tests of the start barrier only"""


@dataclass
class LostNode:
    node: int
    id: str
    address: str
    reason: str
    last_interval: int
    """the last interval of this node the driver merged (-1: none)"""
    unsent: dict[str, int] = field(default_factory=dict)
    """scheduled iterations of this node's share never started, per open-loop scenario"""

    def describe(self) -> str:
        share = ", ".join(f"{n:,} scheduled iterations of {sc}" for sc, n in self.unsent.items())
        return (f"node {self.node} ({self.address}) lost: {self.reason}; last merged interval "
                f"{self.last_interval}; its unsent share: {share or 'none'}")

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "id": self.id, "address": self.address, "reason": self.reason,
                "last_interval": self.last_interval, "unsent_iterations": dict(self.unsent)}


@dataclass
class ClusterReport:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    """for meta.json: id, address, processes, clock offset and its uncertainty"""
    lost: list[LostNode] = field(default_factory=list)
    start_spread: float = 0.0
    """the largest uncertainty of the start instant across nodes, seconds"""


def from_flags(cluster: str | None, nodes: int | None, lease: str | None,
               on_node_loss: str | None) -> ClusterOptions | None:
    """``--cluster``, ``--nodes``, ``--lease`` and ``--on-node-loss`` checked
    together: one clear error for a bad or lonely value."""
    from fleetload.durations import parse_duration
    from fleetload.errors import ConfigError

    if cluster is None:
        given = [f for f, v in (("--nodes", nodes), ("--lease", lease),
                                ("--on-node-loss", on_node_loss)) if v is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to cluster runs only: add --cluster "
                              "ray://HOST:10001 (or --cluster auto on a cluster node)")
        return None
    if not cluster.strip():
        raise ConfigError("--cluster needs an address: ray://HOST:10001, auto, or HOST:PORT")
    if nodes is not None and nodes < 1:
        raise ConfigError(f"--nodes must be at least 1, got {nodes}")
    seconds = parse_duration(lease, what="--lease") if lease is not None else DEFAULT_LEASE
    if seconds <= 0:
        raise ConfigError(f"--lease must be longer than 0s, got {lease}")
    loss: OnNodeLoss = "continue" if on_node_loss == "continue" else "abort"
    return ClusterOptions(cluster.strip(), nodes=nodes, lease=seconds, on_node_loss=loss)
