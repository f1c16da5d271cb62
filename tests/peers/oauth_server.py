"""A real OAuth 2.0 token endpoint for tests: oidc-provider (npm) on Node.js,
started from ``tests/peers/oauth/server.mjs`` on 127.0.0.1 with
client-credentials clients written here, stopped by its pid."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleetplane.launch import free_port
from tests.support.processes import stop_process

PROJECT = Path(__file__).resolve().parent / "oauth"
SERVER = PROJECT / "server.mjs"
INSTALL_HINT = "bash scripts/install-npm-deps.sh"


@dataclass(frozen=True)
class OAuthServer:
    url: str
    client_id: str
    """Registered as is and as ``<client_id>-1`` .. ``<client_id>-<clients>``."""
    client_secret: str
    clients: int
    ttl: int
    """Lifetime of an issued access token (``expires_in``), seconds."""
    log: Path

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    def token_answers(self) -> dict[int, int]:
        """How the token endpoint has answered so far: {status: count}."""
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as r:
            return {int(k): int(v) for k, v in json.loads(r.read()).items()}


def missing() -> str | None:
    """Why the server cannot start here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if not (PROJECT / "node_modules" / "oidc-provider").is_dir():
        return f"oidc-provider is not installed in {PROJECT.name}/node_modules (run {INSTALL_HINT})"
    return None


def _client_list(client_id: str, secret: str, clients: int) -> list[dict[str, str]]:
    ids = [client_id] + [f"{client_id}-{n}" for n in range(1, clients + 1)]
    # oidc-provider accepts the secret in the Authorization header or the form
    # body for a client registered with either method.
    return [{"client_id": i, "client_secret": secret,
             "token_endpoint_auth_method": "client_secret_basic"} for i in ids]


def _ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    stdout = proc.stdout
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


@contextmanager
def oauth_server(directory: Path, *, client_id: str, client_secret: str, clients: int = 3,
                 ttl: int = 600, attempts: int = 3) -> Iterator[OAuthServer]:
    """Start the server (a new free port per attempt) and stop it on exit."""
    node = shutil.which("node") or "node"
    clients_file = directory / "clients.json"
    clients_file.write_text(json.dumps(_client_list(client_id, client_secret, clients)))
    log = directory / "oauth-server.log"
    for attempt in range(attempts):
        port = free_port()
        with log.open("w") as err:
            proc = subprocess.Popen(
                [node, str(SERVER), "--port", str(port), "--clients", str(clients_file),
                 "--ttl", str(ttl)],
                cwd=PROJECT, stdout=subprocess.PIPE, stderr=err, text=True)
        line = _ready_line(proc, timeout=20)
        if line.startswith("READY "):
            break
        _stop(proc)
        if attempt == attempts - 1:
            raise RuntimeError(f"oidc-provider did not start: {line!r} {log.read_text()[-2000:]}")
    try:
        yield OAuthServer(line.split()[1], client_id, client_secret, clients, ttl, log)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    stop_process(proc)
    if proc.stdout is not None:
        proc.stdout.close()
