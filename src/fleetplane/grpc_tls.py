"""TLS on the gRPC port: server credentials, and whether a client certificate
names the agent that presents it (mTLS with ``--client-ca``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from fleetplane.config import TargetConfig


def server_credentials(cfg: TargetConfig) -> grpc.ServerCredentials | None:
    """TLS with ``tls_cert``/``tls_key`` (None: serve insecure); with
    ``client_ca``, client certificates signed by it are required."""
    if cfg.tls_cert is None or cfg.tls_key is None:
        return None
    chain = Path(cfg.tls_cert).read_bytes()
    key = Path(cfg.tls_key).read_bytes()
    root = Path(cfg.client_ca).read_bytes() if cfg.client_ca else None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=root,
                                       require_client_auth=root is not None)


def certificate_names(auth: Mapping[str, Sequence[bytes]]) -> set[str]:
    """The names a verified peer certificate carries: its subject CN and its DNS
    SANs (lowercase). Empty when the peer presented no certificate."""
    pem = auth.get("x509_pem_cert")
    if pem:
        cert = x509.load_pem_x509_certificate(pem[0])
        names = {str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            names.update(san.get_values_for_type(x509.DNSName))
    else:
        names = {v.decode("utf-8", "replace") for v in auth.get("x509_common_name", ())}
    return {n.lower().rstrip(".") for n in names}


def names_host(auth: Mapping[str, Sequence[bytes]], hostname: str) -> bool:
    return hostname.lower().rstrip(".") in certificate_names(auth)
