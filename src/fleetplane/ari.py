"""ACME Renewal Information (RFC 9773) certificate identifiers.

An ARI id is ``base64url(AKI keyIdentifier) "." base64url(serial DER content)``
without padding. Every stored certificate has an issuer AKI and a serial, so
load scripts can form ids with :func:`ari_id` (or read ``ari_id`` from the
certificate JSON).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def serial_bytes(serial: int) -> bytes:
    """DER INTEGER content octets of a positive serial (leading 0x00 if the top bit is set)."""
    if serial <= 0:
        raise ValueError("serial must be positive")
    return serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def ari_id(aki: bytes, serial: int) -> str:
    if not aki:
        raise ValueError("aki must not be empty")
    return f"{_b64(aki)}.{_b64(serial_bytes(serial))}"


def parse_ari_id(value: str) -> tuple[bytes, int]:
    """Return (aki, serial); raises ValueError when malformed."""
    parts = value.split(".")
    if len(parts) != 2 or not all(_B64URL.match(p) for p in parts):
        raise ValueError("ARI id must be base64url(AKI).base64url(serial)")
    try:
        aki = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("ARI id is not valid base64url") from exc
    if not aki or not raw:
        raise ValueError("ARI id has an empty part")
    if raw[0] & 0x80:
        raise ValueError("serial must be a positive integer")
    if len(raw) > 1 and raw[0] == 0 and not raw[1] & 0x80:
        raise ValueError("serial is not minimally encoded")
    serial = int.from_bytes(raw, "big")
    if serial == 0:
        raise ValueError("serial must be positive")
    return aki, serial


def issuer_aki(issuer_id: str) -> bytes:
    # A stable 20-byte key identifier per issuer (what SHA-1 of a key would give)
    # so ids survive restarts without storing real issuer keys.
    return hashlib.sha1(f"fleetplane-issuer:{issuer_id}".encode(), usedforsecurity=False).digest()
