"""SSLContext building for the HTTP client."""

from __future__ import annotations

import os
import ssl
import tempfile


def build_ssl_context(*, insecure: bool = False, ca_file: str | None = None) -> ssl.SSLContext:
    """A client context: verification on by default (system trust store plus
    ``ca_file`` when given), ``insecure=True`` disables certificate and hostname
    checks. ALPN offers ``http/1.1`` only."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load CA file {ca_file!r}: {exc}") from exc
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


def _load_chain(ctx: ssl.SSLContext, path: str) -> None:
    try:
        ctx.load_cert_chain(path)
    except ssl.SSLError as exc:
        raise ValueError(f"client identity: certificate and key do not load ({exc.reason or exc})") from exc


__all__ = ["build_ssl_context", "load_client_identity"]
