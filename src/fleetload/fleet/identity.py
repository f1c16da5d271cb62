"""Agent identities: Ed25519 key pairs (in memory) and run-scoped hostnames.

Keys are generated when an agent first needs them (at registration), and only
the raw 32-byte halves are kept: an agent costs 64 bytes of key material, not a
key object.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def new_keypair() -> tuple[bytes, bytes]:
    """(raw private key, raw public key), 32 bytes each."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, public


def sign(private_raw: bytes, data: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_raw).sign(data)


def verify(public_raw: bytes, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except Exception:
        return False
    return True


def hostname(prefix: str, run_id: str, index: int) -> str:
    """``<prefix>-<run-id>-<nnnnn>``: unique per run, and the run's agents can be
    found (and removed) by the filter ``<prefix>-<run-id>-*``."""
    return f"{prefix}-{run_id}-{index:05d}"


def hostname_filter(prefix: str, run_id: str) -> str:
    return f"{prefix}-{run_id}-*"


def valid_prefix(prefix: str) -> bool:
    return bool(_PREFIX.match(prefix))
