"""A gRPC fleet whose agents present client certificates minted from a test CA.

-e MTLS_CA_DIR=DIR (``ca.pem`` and ``ca.key`` of the CA that issues the
identities), MTLS_GRPC_TARGET=grpcs://HOST:PORT, MTLS_TOKEN, MTLS_AGENTS,
MTLS_MODE=valid|none (no client certificate)|foreign (certificates from
another CA), MTLS_WRONG=2,5 (agents whose certificate names another host),
MTLS_PREFLIGHT=0|1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import fleetload
from fleetload import Fleet, scenario
from fleetload.fleet.client_identity import ClientIdentity
from fleetload.fleet.grpc_agent import GrpcAgent
from tests.support.pki import TestCA

ENV = fleetload.env
CA_DIR = Path(ENV["MTLS_CA_DIR"])
MODE = ENV.get("MTLS_MODE", "valid")
WRONG = {int(i) for i in ENV.get("MTLS_WRONG", "").split(",") if i.strip()}


class MintedIdentities:
    """Agent ``index`` gets a certificate naming its hostname (another host's
    name for the indexes in ``wrong``)."""

    def __init__(self, ca: TestCA, wrong: set[int]) -> None:
        self.ca = ca
        self.wrong = wrong

    def identity(self, index: int, hostname: str) -> ClientIdentity:
        name = f"other-{hostname}" if index in self.wrong else hostname
        issued = self.ca.client(name)
        return ClientIdentity(issued.cert_pem, issued.key_pem, subject=f"CN={name}")


def _load_ca() -> TestCA:
    key = serialization.load_pem_private_key((CA_DIR / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return TestCA(x509.load_pem_x509_certificate((CA_DIR / "ca.pem").read_bytes()), key)


identities: MintedIdentities | None = None
if MODE == "valid":
    identities = MintedIdentities(_load_ca(), WRONG)
elif MODE == "foreign":
    identities = MintedIdentities(TestCA.create("another CA"), WRONG)


@scenario(Fleet(agent=GrpcAgent, agents=int(ENV.get("MTLS_AGENTS", "4")), duration="4s",
                heartbeat_interval="1s", registration_concurrency=4,
                grpc_target=ENV["MTLS_GRPC_TARGET"], token=ENV["MTLS_TOKEN"],
                identities=identities, preflight=ENV.get("MTLS_PREFLIGHT", "1") == "1",
                graceful_stop="5s"))
async def fleet(vu: Any) -> None:
    """Not called: the agents' behaviour lives in the Agent class."""
