"""Identifier and secret generation."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    # 16 hex chars (64 random bits): short enough to read in logs, no collisions in practice.
    return f"{prefix}-{secrets.token_hex(8)}"


def new_serial() -> int:
    # Positive, < 2**63 so it fits PostgreSQL BIGINT if ever stored as a number,
    # and non-zero so its DER encoding is never empty.
    return secrets.randbits(63) | 1


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(24)}"
