"""Reference data seeded by migrations (issuers, owners, teams, policies, profiles)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetplane.db import Tx


@dataclass(frozen=True)
class Lookups:
    issuers: frozenset[str] = field(default_factory=frozenset)
    owners: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    policies: dict[str, int] = field(default_factory=dict)  # id -> validity_days
    profiles: dict[str, str] = field(default_factory=dict)  # acme_id -> profile id

    @property
    def profile_ids(self) -> frozenset[str]:
        return frozenset(self.profiles.values())


async def load_lookups(tx: Tx) -> Lookups:
    async def ids(table: str) -> frozenset[str]:
        return frozenset(r["id"] for r in await tx.fetchall(f"SELECT id FROM {table}"))

    policies = {
        r["id"]: int(r["validity_days"])
        for r in await tx.fetchall("SELECT id, validity_days FROM renewal_policies")
    }
    profiles = {r["acme_id"]: r["id"] for r in await tx.fetchall("SELECT id, acme_id FROM profiles")}
    return Lookups(
        issuers=await ids("issuers"),
        owners=await ids("owners"),
        teams=await ids("teams"),
        policies=policies,
        profiles=profiles,
    )
