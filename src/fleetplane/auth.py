"""Bearer API-key checks (constant-time)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

WWW_AUTHENTICATE = 'Bearer realm="fleetplane"'
CERTCTL_WWW_AUTHENTICATE = 'Bearer realm="certctl"'


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def key_matches(token: str | None, keys: Iterable[str]) -> bool:
    if token is None:
        return False
    presented = token.encode("utf-8", "surrogateescape")
    ok = False
    # Compare against every key so timing does not reveal which one matched.
    for key in keys:
        ok |= hmac.compare_digest(presented, key.encode("utf-8", "surrogateescape"))
    return ok


def mask(secret: str) -> str:
    """Show enough of a user-provided secret to recognise it, never all of it."""
    if len(secret) <= 8:
        return "*" * len(secret)
    return secret[:4] + "…" + "*" * 4
