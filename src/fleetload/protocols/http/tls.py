"""SSLContext building for the HTTP client."""

from __future__ import annotations

import os
import ssl
import tempfile

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization


def build_ssl_context(*, insecure: bool = False, ca_file: str | None = None,
                      client_cert: str | None = None, client_key: str | None = None) -> ssl.SSLContext:
    """A client context: verification on by default (system trust store plus
    ``ca_file`` when given), ``insecure=True`` disables certificate and hostname
    checks. ``client_cert``/``client_key`` (PEM files, both or neither): the
    identity presented to servers that ask for one. ALPN offers ``http/1.1`` only."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load CA file {ca_file!r}: {exc}") from exc
    if (client_cert is None) != (client_key is None):
        raise ValueError("client certificate and key go together: give both or neither")
    if client_cert is not None and client_key is not None:
        load_client_identity_files(ctx, client_cert, client_key)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def load_client_identity(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Present this PEM certificate chain and key (held in memory) on ``ctx``.

    ``ssl`` loads identities from files only: on Linux the PEM goes through an
    anonymous in-memory file (never the disk); elsewhere through a private
    temporary file removed at once."""
    data = cert_pem.rstrip(b"\n") + b"\n" + key_pem
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("fleetload-identity", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            _load_chain(ctx, f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="fleetload-identity-")
    try:
        os.write(fd, data)
        os.close(fd)
        _load_chain(ctx, path)
    finally:
        os.unlink(path)


def load_client_identity_files(ctx: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Present the PEM certificate chain in ``cert_file`` and the key in ``key_file``."""
    cert_pem = _read(cert_file, "client certificate")
    key_pem = _read(key_file, "client key")
    problem = identity_problem(cert_pem, key_pem)
    if problem is not None:
        raise ValueError(f"client certificate {cert_file!r} / key {key_file!r}: {problem}")
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ValueError(f"client certificate {cert_file!r} / key {key_file!r}: {reason}") from exc


def identity_problem(cert_pem: bytes, key_pem: bytes) -> str | None:
    """Why this PEM certificate (chain, leaf first) and PEM key cannot serve as a
    client identity, or None when they can: not PEM, an encrypted key, or a key
    that is not the certificate's."""
    try:
        identity_leaf(cert_pem, key_pem)
    except ValueError as exc:
        return str(exc)
    return None


def identity_leaf(cert_pem: bytes, key_pem: bytes) -> x509.Certificate:
    """The leaf certificate of a usable identity; ``ValueError`` saying why
    it is not one (see :func:`identity_problem`)."""
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise ValueError("no PEM certificate in the certificate file") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ValueError("the key is encrypted (give an unencrypted PEM key)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("no PEM private key in the key file") from None
    if key.public_key().public_bytes(_DER, _SPKI) != leaf.public_key().public_bytes(_DER, _SPKI):
        raise ValueError("the key does not match the certificate")
    return leaf


_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from exc


def _load_chain(ctx: ssl.SSLContext, path: str) -> None:
    try:
        ctx.load_cert_chain(path)
    except ssl.SSLError as exc:
        raise ValueError(f"client identity: certificate and key do not load ({exc.reason or exc})") from exc


__all__ = ["build_ssl_context", "identity_leaf", "identity_problem", "load_client_identity",
           "load_client_identity_files"]
