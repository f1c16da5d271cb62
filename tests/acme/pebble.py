"""A throwaway Pebble (+ pebble-challtestsrv as its DNS) on loopback.

    with Pebble(http_port=5002, tls_port=5001) as pb:
        pb.directory   # https://127.0.0.1:PORT/dir
        pb.ca_file     # trust this for Pebble's HTTPS (--ca-cert)

Debian's ``pebble`` package ships no test certificates, so the HTTPS
certificate of the ACME endpoint is made here with a throwaway CA. Random order
names must resolve to 127.0.0.1 for real validation (``PEBBLE_VA_ALWAYS_VALID``
unset): ``pebble-challtestsrv -defaultIPv4 127.0.0.1`` answers every A query
with it, and Pebble asks it through ``-dnsserver``. Shared by the tests and by
``bench/acme_enroll.py`` (which pins Pebble to a core with ``cpu=``).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a CA and a localhost/127.0.0.1 server cert."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetload test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class Pebble:
    """Pebble and its mock DNS as child processes; ``stop()`` is idempotent."""

    def __init__(self, *, http_port: int = 5002, tls_port: int = 5001,
                 env: dict[str, str] | None = None, cpu: int | None = None,
                 log: bool = False) -> None:
        if PEBBLE is None or CHALLTESTSRV is None:
            raise RuntimeError("pebble / pebble-challtestsrv not installed (apt install pebble)")
        self.dir = Path(tempfile.mkdtemp(prefix="fleetload-pebble-"))
        self.ca_file, cert, key = make_tls_files(self.dir)
        self.port = free_port()
        self.mgmt_port = free_port()
        self.dns_port = free_port(socket.SOCK_DGRAM)
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(cert), "privateKey": str(key),
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        (self.dir / "pebble.json").write_text(json.dumps(config))
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        self.procs: list[subprocess.Popen[bytes]] = []
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        out = None if log else subprocess.DEVNULL
        # Only the DNS part of challtestsrv: its own challenge servers would take
        # the responder's ports. Empty -defaultIPv6 keeps Pebble on IPv4.
        self.procs.append(subprocess.Popen(
            [*pin, CHALLTESTSRV, "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", "",
             "-https01", "", "-tlsalpn01", "", "-management", f"127.0.0.1:{free_port()}",
             "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
            stdout=out, stderr=out))
        full_env = dict(os.environ)
        full_env.update({"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"})
        full_env.update(env or {})
        self.pebble = subprocess.Popen(
            [*pin, PEBBLE, "-config", str(self.dir / "pebble.json"),
             "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            stdout=out, stderr=out, env=full_env)
        self.procs.append(self.pebble)
        atexit.register(self.stop)
        self._wait_ready()

    def _wait_ready(self) -> None:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(self.directory, context=ctx, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline or self.pebble.poll() is not None:
                    self.stop()
                    raise RuntimeError("pebble did not start") from None
                time.sleep(0.1)

    def root_pem(self) -> bytes:
        """Pebble's (per-start) root, from its management interface."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the management interface uses the same cert
        url = f"https://127.0.0.1:{self.mgmt_port}/roots/0"
        with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
            data: bytes = r.read()
        return data

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
            if p.poll() is None:
                p.kill()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Pebble:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
