"""In-process challenge responders: http-01 (RFC 8555 8.3) and tls-alpn-01 (RFC 8737).

Both run on the worker's event loop and are started on first use. They answer
from tables the enrollment fills before it tells the server to validate and
empties afterwards, so memory follows the enrollments in flight, not the run.

- http-01: a minimal HTTP/1.1 server answering
  ``GET /.well-known/acme-challenge/<token>`` with the key authorization, 404
  otherwise. The validation is one request per connection (``Connection:
  close``), so no keep-alive machinery is needed.
- tls-alpn-01: a TLS server that, for the SNI name of a pending challenge,
  presents a self-signed certificate for that name carrying the critical
  acmeIdentifier extension (SHA-256 of the key authorization) and negotiates
  ALPN ``acme-tls/1``. One P-256 key signs every such certificate: a key per
  challenge would cost a key generation per name and prove nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import os
import shutil
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
_PREFIX = b"/.well-known/acme-challenge/"
_MAX_HEAD = 8192


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def alpn_certificate(name: str, key_authorization: str, key: ec.EllipticCurvePrivateKey,
                     ) -> x509.Certificate:
    """RFC 8737 section 3 validation certificate for ``name``."""
    now = datetime.datetime.now(datetime.UTC)
    digest = hashlib.sha256(key_authorization.encode()).digest()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            # the extension value is the DER OCTET STRING of the 32-byte digest
            .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER_OID,
                                                      b"\x04\x20" + digest), critical=True)
            .sign(key, hashes.SHA256()))


class Http01Responder:
    def __init__(self, listen: str) -> None:
        self.host, self.port = parse_listen(listen)
        self.tokens: dict[str, str] = {}
        self.served = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            parts = head[:_MAX_HEAD].split(b"\r\n", 1)[0].split(b" ")
            path = parts[1] if len(parts) == 3 else b""
            answer = None
            if parts[0] in (b"GET", b"HEAD") and path.startswith(_PREFIX):
                answer = self.tokens.get(path[len(_PREFIX):].decode("latin-1"))
            if answer is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
            else:
                self.served += 1
                body = answer.encode() if parts[0] == b"GET" else b""
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(answer), body))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


class TlsAlpnResponder:
    def __init__(self, listen: str) -> None:
        self.host, self.port = parse_listen(listen)
        self.contexts: dict[str, ssl.SSLContext] = {}
        self.handshakes = 0
        self._key = ec.generate_private_key(ec.SECP256R1())
        # load_cert_chain reads files only; RAM-backed when the host has it.
        self._dir = Path(tempfile.mkdtemp(prefix="fleetload-alpn-",
                                          dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
        self._key_file = self._dir / "key.pem"
        self._key_file.write_bytes(self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self._server: asyncio.Server | None = None
        self._serial = 0

    def _context(self, cert: x509.Certificate) -> ssl.SSLContext:
        self._serial += 1
        path = self._dir / f"c{self._serial}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(path, self._key_file)
        finally:
            path.unlink()
        ctx.set_alpn_protocols([ACME_TLS_ALPN])
        return ctx

    def add(self, name: str, key_authorization: str) -> None:
        self.contexts[name.lower()] = self._context(
            alpn_certificate(name, key_authorization, self._key))

    def remove(self, name: str) -> None:
        self.contexts.pop(name.lower(), None)

    def _on_sni(self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                _ctx: ssl.SSLContext) -> int | None:
        ctx = self.contexts.get((server_name or "").lower())
        if ctx is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sslobj.context = ctx
        return None

    async def start(self) -> None:
        base = self._context(alpn_certificate("fleetload.invalid", "none", self._key))
        base.sni_callback = self._on_sni
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=base,
                                                  reuse_address=True, ssl_handshake_timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The handshake is the whole validation; the validator closes right after.
        self.handshakes += 1
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        shutil.rmtree(self._dir, ignore_errors=True)


class Responders:
    """Both responders of one worker, each started on first use."""

    def __init__(self, http01_listen: str, tls_alpn_listen: str) -> None:
        self.http01 = Http01Responder(http01_listen)
        self.tls_alpn: TlsAlpnResponder | None = None
        self._tls_alpn_listen = tls_alpn_listen
        self._started: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, challenge: str) -> None:
        if challenge in self._started:
            return
        async with self._lock:
            if challenge in self._started:
                return
            if challenge == "http-01":
                await self.http01.start()
            elif challenge == "tls-alpn-01":
                self.tls_alpn = TlsAlpnResponder(self._tls_alpn_listen)
                await self.tls_alpn.start()
            else:
                raise ValueError(f"no responder for {challenge}")
            self._started.add(challenge)

    def add(self, challenge: str, name: str, token: str, key_authorization: str) -> None:
        if challenge == "http-01":
            self.http01.tokens[token] = key_authorization
        elif self.tls_alpn is not None:
            self.tls_alpn.add(name, key_authorization)

    def remove(self, challenge: str, name: str, token: str) -> None:
        if challenge == "http-01":
            self.http01.tokens.pop(token, None)
        elif self.tls_alpn is not None:
            self.tls_alpn.remove(name)

    async def close(self) -> None:
        await self.http01.close()
        if self.tls_alpn is not None:
            await self.tls_alpn.close()
        self._started.clear()
