"""One request to the target before anything starts: an unreachable or
untrusted target is a clear error, not a run full of failures."""

from __future__ import annotations

from typing import Any

from fleetload.errors import TargetUnreachable
from fleetload.protocols.http.options import ClientOptions, new_client
from fleetload.redact import redact_url

_UNREACHABLE = ("connection_refused", "dns_error", "connect_timeout", "tls_error",
                "connection_reset", "timeout")


async def preflight(opts: ClientOptions, url: str | None) -> dict[str, Any] | None:
    """Raise :class:`TargetUnreachable` when ``url`` cannot be reached. Returns
    the target's self-reported version (``GET /version``) when it has one."""
    if not url:
        return None
    client = new_client(opts)
    try:
        resp = await client.request("GET", url, timeout=10.0)
        version = None
        if resp.error is None and opts.target:
            probe = await client.request("GET", opts.target.rstrip("/") + "/version", timeout=3.0)
            version = version_of(probe)
    finally:
        await client.close()
    if resp.error in _UNREACHABLE:
        hint = ""
        if resp.error == "tls_error" and "CERTIFICATE_REQUIRED" in (resp.error_detail or ""):
            hint = " (the target asks for a client certificate: --client-cert FILE --client-key FILE)"
        elif resp.error == "tls_error":
            hint = " (use --insecure or --ca-cert FILE for a private CA)"
        raise TargetUnreachable(f"target {redact_url(url)} is unreachable: {resp.error}"
                                f"{': ' + resp.error_detail if resp.error_detail else ''}{hint}")
    return version


def version_of(resp: Any) -> dict[str, Any] | None:
    if resp.status != 200 or len(resp.body) > 4096:
        return None
    try:
        data = resp.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {k: v for k, v in data.items() if isinstance(v, str | int | float) and k != "token"}
