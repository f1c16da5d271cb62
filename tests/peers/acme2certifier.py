"""acme2certifier (PyPI ``acme2certifier``) with its OpenSSL CA handler and
SQLite database, served on loopback.

    with LoopbackDns() as dns, Acme2Certifier(tmp_path, dns) as a2c:
        a2c.directory     # http://127.0.0.1:PORT/directory
        a2c.ca_file       # the issuing CA the OpenSSL handler signs with

The fixture makes the issuing CA (key, certificate, an empty CRL), writes
``acme_srv.cfg`` and serves the WSGI application in a subprocess
(:mod:`tests.peers.acme2certifier_wsgi`). acme2certifier resolves each name
through ``dns_server_list`` (port 53 only) and fetches http-01 from port 80 of
the address it gets: the :class:`LoopbackDns` answers every name with its
private loopback address, where the pack's responder listens.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetplane import launch
from tests.protocols.acme.loopback_dns import LoopbackDns
from tests.support.processes import stop_process

ROOT = Path(__file__).resolve().parent.parent.parent
CA_NAME = "fleetload acme2certifier test CA"

CONFIG = """\
[DEFAULT]
debug: False
dns_server_list: {dns}

[Nonce]
nonce_check_disable: False

[CAhandler]
handler_module: acme2certifier.cahandlers.openssl_ca_handler
issuing_ca_key: {key}
issuing_ca_cert: {cert}
issuing_ca_crl: {crl}
cert_save_path: {certs}
ca_cert_chain_list: {chain}
cert_validity_days: 2

[DBhandler]
handler_module: acme2certifier.dbhandlers.wsgi_handler
dbfile: {db}

[Challenge]
challenge_validation_disable: False
"""


def missing() -> str | None:
    """Why the acme2certifier tests cannot run here, or None."""
    if importlib.util.find_spec("acme2certifier") is None:
        return "acme2certifier not installed (pip install acme2certifier==0.46.3)"
    return None


def make_issuing_ca(directory: Path) -> tuple[Path, Path, Path]:
    """(key, certificate, CRL) of a throwaway issuing CA, PEM files in ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name).last_update(now)
           .next_update(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    paths = directory / "ca.key", directory / "ca.pem", directory / "ca.crl"
    paths[0].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return paths


class Acme2Certifier:
    """One acme2certifier server process; ``stop()`` is idempotent."""

    def __init__(self, directory: Path, dns: LoopbackDns) -> None:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        self.dir = directory
        key, self.ca_file, crl = make_issuing_ca(directory)
        certs = directory / "certs"
        certs.mkdir(exist_ok=True)
        self.config = directory / "acme_srv.cfg"
        self.config.write_text(CONFIG.format(
            dns=json.dumps([dns.ip]), key=key, cert=self.ca_file, crl=crl, certs=certs,
            chain=json.dumps([str(self.ca_file)]), db=directory / "acme_srv.db"))
        self.log = directory / "acme2certifier.log"
        self.port = launch.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = f"{self.url}/directory"
        env = dict(os.environ, ACME_SRV_CONFIGFILE=str(self.config), PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")) if p)
        with self.log.open("wb") as log:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", "tests.peers.acme2certifier_wsgi", str(self.port)],
                cwd=directory, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.directory, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc is None or self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"acme2certifier did not start:\n{tail}")
            time.sleep(0.1)

    def requests_to(self, path_prefix: str) -> list[str]:
        """The server's access-log lines for requests under ``path_prefix``."""
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if f" {path_prefix}" in line and "HTTP/1.1\" " in line]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, grace=10)

    def __enter__(self) -> Acme2Certifier:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
