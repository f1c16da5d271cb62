"""Client TLS identities an agent presents: one PEM certificate and key per agent.

The contract between where identities come from (a directory of PEM pairs,
certificates minted at start from a CA) and the transports that present them
(HTTP and gRPC agents). An identity never reaches results or logs: its repr
names the subject only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """A PEM certificate chain and its PEM private key (in memory)."""

    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    subject: str = ""


class IdentitySource(Protocol):
    """Gives agent ``index`` (0-based, run-wide) named ``hostname`` its identity."""

    def identity(self, index: int, hostname: str) -> ClientIdentity: ...
