"""SSLContext building for the HTTP client."""

from __future__ import annotations

import ssl


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


__all__ = ["build_ssl_context"]
