"""Certificate side of the enrollment: CSRs, chain parsing, ARI certificate IDs."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fleetload.protocols.acme.jws import b64

CertKey = ec.EllipticCurvePrivateKey


def new_cert_key() -> CertKey:
    """The certificate's key: P-256, what most ACME deployments issue for."""
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(names: Sequence[str], key: CertKey) -> bytes:
    """DER CSR for ``names`` (SANs only: RFC 8555 does not need a subject)."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.DER)


def parse_chain(pem: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM chain, leaf first; ValueError when there is none."""
    return x509.load_pem_x509_certificates(pem)


def dns_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return set(san.value.get_values_for_type(x509.DNSName))


def ari_cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 certificate identifier: base64url(AKI keyIdentifier) "."
    base64url(serial number DER content octets, with a leading zero when the
    high bit is set)."""
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    key_id = aki.value.key_identifier
    if key_id is None:
        raise ValueError("certificate has no authority key identifier")
    serial = cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 8) // 8 or 1, "big")
    return f"{b64(key_id)}.{b64(raw)}"


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
