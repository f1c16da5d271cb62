"""``fleetload cleanup``: remove what a load-test run created on the target."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

import click

from fleetload.errors import ConfigError, TargetUnreachable
from fleetload.redact import redact_url

from .errors import handle_errors


def cleanup_run(target: str, admin_key: str, run_id: str, *, insecure: bool = False,
                ca_file: str | None = None, timeout: float = 60.0) -> dict[str, object]:
    """``DELETE /admin/loadtest/runs/{run_id}``; returns the target's answer."""
    if not run_id.strip():
        raise ConfigError("--run-id must not be blank")
    url = (target.rstrip("/") + "/admin/loadtest/runs/"
           + urllib.parse.quote(run_id, safe=""))
    req = urllib.request.Request(url, method="DELETE",
                                 headers={"Authorization": f"Bearer {admin_key}",
                                          "Accept": "application/json"})
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=ca_file)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    shown = redact_url(target)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            data = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        if exc.code == 401 or exc.code == 403:
            raise ConfigError(f"cleanup refused by {shown}: wrong or missing admin key "
                              f"(HTTP {exc.code}{detail})") from None
        if exc.code == 503:
            raise ConfigError(f"cleanup unavailable on {shown}: admin endpoints are disabled "
                              f"(HTTP 503{detail}); start the target with --admin-key") from None
        if exc.code == 404:
            raise ConfigError(f"{shown} has no run cleanup endpoint (HTTP 404{detail}); delete "
                              f"the run's agents by label run_id={run_id} or by hostname "
                              f"*-{run_id}-*") from None
        raise ConfigError(f"cleanup failed on {shown}: HTTP {exc.code}{detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TargetUnreachable(f"target {shown} is unreachable: {reason}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"cleanup: unexpected answer from {shown}: {data!r}")
    return data


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    if isinstance(body, dict) and body.get("detail"):
        return f": {body['detail']}"
    return ""


@click.command("cleanup")
@click.option("--target", required=True, help="Base URL of the target.")
@click.option("--admin-key", required=True, envvar="FLEETLOAD_ADMIN_KEY",
              help="The target's admin key (env FLEETLOAD_ADMIN_KEY).")
@click.option("--run-id", required=True, help="The run id printed by 'fleetload run'.")
@click.option("--insecure", is_flag=True, help="Skip TLS certificate verification.")
@click.option("--ca-cert", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="Trust this CA (PEM) for TLS.")
@handle_errors
def cleanup_cmd(target: str, admin_key: str, run_id: str, insecure: bool,
                ca_file: str | None) -> None:
    """Remove the agents, certificates and jobs a run created (the target's
    DELETE /admin/loadtest/runs/RUN_ID). Exit 2 when refused or unreachable."""
    data = cleanup_run(target, admin_key, run_id, insecure=insecure, ca_file=ca_file)
    click.echo(f"run {run_id}: removed {data.get('agents_removed', 0)} agent(s), "
               f"{data.get('certificates_removed', 0)} certificate(s), "
               f"{data.get('jobs_removed', 0)} job(s) from {redact_url(target)}")
