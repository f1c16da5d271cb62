"""Account keys and RFC 8555 JWS (flattened JSON serialization), on ``cryptography``.

ES256 (P-256) is the default: it is what most ACME clients use and it is cheap
to sign (~50 µs). RS256 (2048-bit) is the historic default of certbot and signs
~20x slower; EdDSA (Ed25519, RFC 8037) only where the server allows it (Pebble
2.4 and Boulder do not). Signing time is measured around the sign call only, so
the reported cost is the generator's, not the JSON or base64 around it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

KEY_TYPES: Final = ("ec", "rsa", "ed25519")
ALGORITHMS: Final = {"ec": "ES256", "rsa": "RS256", "ed25519": "EdDSA"}

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def b64(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(n: int, length: int | None = None) -> str:
    return b64(n.to_bytes(length or max(1, (n.bit_length() + 7) // 8), "big"))


def generate_key(kind: str) -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {kind!r} (expected one of {', '.join(KEY_TYPES)})")


def public_jwk(key: PrivateKey) -> dict[str, str]:
    """The public JWK with only the required members (RFC 7638 thumbprint input)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        nums = key.public_key().public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": _int_b64(nums.x, 32), "y": _int_b64(nums.y, 32)}
    if isinstance(key, rsa.RSAPrivateKey):
        pub = key.public_key().public_numbers()
        return {"e": _int_b64(pub.e), "kty": "RSA", "n": _int_b64(pub.n)}
    raw = key.public_key().public_bytes_raw()
    return {"crv": "Ed25519", "kty": "OKP", "x": b64(raw)}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638: SHA-256 over the members in lexicographic order, no whitespace."""
    canonical = json.dumps(dict(sorted(jwk.items())), separators=(",", ":"))
    return b64(hashlib.sha256(canonical.encode()).digest())


class AccountKey:
    """A key that signs JWS; ``kid`` is set once the account exists."""

    __slots__ = ("alg", "jwk", "key", "kid", "kind", "thumbprint")

    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self.kind = "ec"
        elif isinstance(key, rsa.RSAPrivateKey):
            self.kind = "rsa"
        else:
            self.kind = "ed25519"
        self.alg = ALGORITHMS[self.kind]
        self.jwk = public_jwk(key)
        self.thumbprint = thumbprint(self.jwk)
        self.kid: str | None = None

    @classmethod
    def generate(cls, kind: str = "ec") -> AccountKey:
        return cls(generate_key(kind))

    def key_authorization(self, token: str) -> str:
        return f"{token}.{self.thumbprint}"

    def raw_sign(self, data: bytes) -> bytes:
        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            # JWS wants r||s (32 bytes each), cryptography gives DER.
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(data)

    def sign(self, url: str, nonce: str, payload: Any, *, use_jwk: bool = False) -> tuple[bytes, float]:
        """The request body (flattened JWS) and the seconds spent signing.

        ``payload`` None means POST-as-GET (empty payload); otherwise it is
        JSON-encoded. ``use_jwk`` embeds the public key (new-account, and
        revocation by certificate key) instead of the account URL.
        """
        protected: dict[str, Any] = {"alg": self.alg, "nonce": nonce, "url": url}
        if use_jwk or self.kid is None:
            protected["jwk"] = self.jwk
        else:
            protected["kid"] = self.kid
        p64 = b64(json.dumps(protected, separators=(",", ":")).encode())
        body64 = "" if payload is None else b64(json.dumps(payload, separators=(",", ":")).encode())
        t0 = time.perf_counter()
        sig = self.raw_sign(f"{p64}.{body64}".encode("ascii"))
        spent = time.perf_counter() - t0
        return (json.dumps({"protected": p64, "payload": body64, "signature": b64(sig)},
                           separators=(",", ":")).encode(), spent)
