"""The client certificate a TLS peer presented, made visible to the ASGI app.

uvicorn puts no TLS details in the ASGI scope. :class:`PeerCertHttpToolsProtocol`
reads the verified peer certificate once per connection (the handshake is done
when the transport reaches ``connection_made``) and adds it to every request's
scope as the ASGI TLS extension: ``scope["extensions"]["tls"]`` with
``client_cert_chain`` (PEM, leaf first) and ``client_cert_name`` (the subject
DN), plus ``client_cert_names``: the certificate's subject CNs and DNS SANs,
what :func:`names_hostname` matches a hostname against.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _peer_tls(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if der is None:
        return {"client_cert_chain": [], "client_cert_name": None, "client_cert_names": ()}
    parsed: dict[str, Any] = dict(ssl_object.getpeercert() or {})
    rdns: list[tuple[str, str]] = [attr for rdn in parsed.get("subject", ()) for attr in rdn]
    names = [value for key, value in rdns if key == "commonName"]
    sans: tuple[tuple[str, str], ...] = parsed.get("subjectAltName", ())
    names += [value for kind, value in sans if kind == "DNS"]
    dn = ",".join(f"{key}={value}" for key, value in reversed(rdns))
    return {
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)],
        "client_cert_name": dn or None,
        "client_cert_names": tuple(names),
    }


class PeerCertHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the TLS extension in each scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._tls = _peer_tls(transport)
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            extensions: dict[str, Any] = {"tls": self._tls}
            self.scope["extensions"] = extensions  # type: ignore[typeddict-item]


def peer_cert_names(scope: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The names in the client certificate of this request's connection (CNs, then
    DNS SANs); None when the connection is not TLS or presented no certificate."""
    tls = scope.get("extensions", {}).get("tls")
    if not tls or not tls.get("client_cert_chain"):
        return None
    names: tuple[str, ...] = tls["client_cert_names"]
    return names


def names_hostname(names: tuple[str, ...], hostname: str) -> bool:
    """Whether one of the certificate's names is ``hostname`` (case-insensitive,
    a trailing dot ignored)."""
    want = hostname.rstrip(".").lower()
    return any(name.rstrip(".").lower() == want for name in names)


__all__ = ["PeerCertHttpToolsProtocol", "names_hostname", "peer_cert_names"]
