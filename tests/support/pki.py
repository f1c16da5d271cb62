"""A throwaway PKI for mutual-TLS tests: a CA, server and client certificates
it signs, as objects and as PEM files."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    import ssl

    from fleetplane.launch import RunningTarget


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` and ``<stem>.key``; returns their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        crt, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        crt.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return crt, key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class TestCA:
    """A self-signed CA that issues server and client certificates."""

    __test__ = False
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "fleetload test CA", days: int = 2) -> TestCA:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                             crl_sign=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def write(self, directory: Path, stem: str = "ca") -> tuple[Path, Path]:
        """Write ``<stem>.pem`` (certificate) and ``<stem>.key``; returns their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        crt, key = directory / f"{stem}.pem", directory / f"{stem}.key"
        crt.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return crt, key

    def _issue(self, cn: str, sans: list[x509.GeneralName], eku: x509.ObjectIdentifier,
               days: int) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                   .issuer_name(self.cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return Issued(builder.sign(self.key, hashes.SHA256()), key)

    def server(self, days: int = 2) -> Issued:
        """A server certificate for localhost, 127.0.0.1 and ::1."""
        sans: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
        return self._issue("localhost", sans, ExtendedKeyUsageOID.SERVER_AUTH, days)

    def client(self, cn: str, *, dns_names: list[str] | None = None, days: int = 2) -> Issued:
        """A client certificate with subject CN ``cn`` and DNS SANs ``dns_names``
        (by default ``[cn]``; ``[]`` for none)."""
        names = [cn] if dns_names is None else dns_names
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        return self._issue(cn, sans, ExtendedKeyUsageOID.CLIENT_AUTH, days)


def start_mtls_target(directory: Path, ca: TestCA, *, extra_args: tuple[str, ...] = (),
                      client_ca: Path | None = None) -> RunningTarget:
    """The reference target serving HTTPS with a certificate from ``ca`` and
    ``--client-ca`` (``client_ca``, by default ``ca``'s certificate): it requires
    client certificates. ``.ca_file`` is ``ca``'s certificate; the readiness probe
    presents a client certificate ``ca`` issued."""
    import os
    import sys

    from fleetplane.launch import RunningTarget, free_port

    ca_file, _ = ca.write(directory)
    server_cert, server_key = ca.server().write(directory, "server")
    probe_cert, probe_key = ca.client("readiness-probe").write(directory, "probe")

    class ProbingTarget(RunningTarget):
        def ssl_context(self) -> ssl.SSLContext | None:
            ctx = super().ssl_context()
            assert ctx is not None
            ctx.load_cert_chain(probe_cert, probe_key)
            return ctx

    port, grpc_port = free_port(), free_port()
    db = "sqlite:///" + str(directory / "fleetplane.db").lstrip("/")
    argv = [sys.executable, "-m", "fleetplane", "target", "--db", db,
            "--listen", f"127.0.0.1:{port}", "--grpc-listen", f"127.0.0.1:{grpc_port}",
            "--tls-cert", str(server_cert), "--tls-key", str(server_key),
            "--client-ca", str(client_ca or ca_file), *extra_args]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    target = ProbingTarget(argv, url=f"https://127.0.0.1:{port}", grpc_target=f"127.0.0.1:{grpc_port}",
                           api_key="fleetload-dev-key", admin_key=None, env=env,
                           ca_file=str(ca_file), startup_timeout=30.0, db_url=db)
    return target.start()


__all__ = ["Issued", "TestCA", "cert_pem", "key_pem", "start_mtls_target"]
