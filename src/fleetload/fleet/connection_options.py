"""The fleet's connection options (``--connections``, ``--source-addresses``):
what is valid, and how the run's description names them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetload.fleet import source_addresses

if TYPE_CHECKING:
    from fleetload.fleet.config import Fleet

CHOICES = ("shared", "per-agent", "per-beat", "auto")


def connection_problems(ex: Fleet) -> list[str]:
    """Every problem with the connection options, one line each."""
    if ex.connections not in CHOICES:
        return [f"--connections must be shared, per-agent or per-beat, got {ex.connections!r}"]
    problems: list[str] = []
    http = ex.agent.transport == "http"
    if not http and (ex.connections not in ("shared", "auto") or ex.source_addresses):
        problems.append("--connections and --source-addresses apply to HTTP agents "
                        f"(--transport http); these agents speak {ex.agent.transport}")
        return problems
    if http and ex.identities is not None and ex.connections == "shared":
        problems.append("client identities need each agent's own connection: "
                        "--connections per-agent or per-beat, not shared")
    if ex.source_addresses is not None:
        if ex.connection_mode == "shared":
            problems.append("--source-addresses needs --connections per-agent or per-beat")
        try:
            addresses = source_addresses.parse(ex.source_addresses)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            problems += source_addresses.unassignable(addresses)
    return problems


def describe_connections(ex: Fleet) -> str:
    """The run description's words on connections (empty for the shared pool)."""
    mode = ex.connection_mode
    if mode == "shared":
        return ""
    text = f"; connections {mode}"
    if ex.connections == "auto":
        text += " (implied by the client identities: each agent presents its own)"
    if ex.source_addresses:
        n = len(source_addresses.parse(ex.source_addresses))
        text += f" from {n:,} source address{'es' if n != 1 else ''}"
    return text


__all__ = ["CHOICES", "connection_problems", "describe_connections"]
