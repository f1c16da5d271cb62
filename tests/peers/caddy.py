"""Caddy's built-in ACME server (smallstep's ACME code) on loopback.

    with LoopbackDns() as dns, Caddy(tmp_path, dns) as caddy:
        caddy.directory   # https://127.0.0.1:PORT/acme/local/directory
        caddy.root_file   # its CA's root: --ca-cert

Caddy validates http-01 on port 80 of each name and resolves names itself,
with the system's resolver configuration (2.6.2 has no ``resolvers`` option
for the ACME server). So it runs in a private mount namespace (``unshare
--mount``, mounts private) where its own ``/etc/hosts`` and
``/etc/resolv.conf`` are bind-mounted over the machine's: the hosts file keeps
localhost, and resolv.conf points at the :class:`LoopbackDns`, which answers
every random order name with its private loopback address (a hosts file has no
wildcards). The machine's files are never written.

``unshare`` (without ``--fork``) and ``sh -c 'exec caddy ...'`` both exec, so
the child's pid is Caddy's own (checked once it is up): :meth:`stop` signals
that pid and waits for it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from fleetplane import launch
from tests.protocols.acme.loopback_dns import LoopbackDns
from tests.support.processes import stop_process

CADDY = shutil.which("caddy")
UNSHARE = shutil.which("unshare")
CA_NAME = "fleetload test ACME"

CADDYFILE = """\
{{
	admin 127.0.0.1:{admin}
	skip_install_trust
	storage file_system {storage}
	http_port {http}
	https_port {https}
	auto_https disable_redirects
	pki {{
		ca local {{
			name "{ca_name}"
		}}
	}}
}}

https://127.0.0.1:{port} {{
	bind 127.0.0.1
	tls internal
	acme_server
}}
"""


def missing() -> str | None:
    """Why the Caddy tests cannot run here, or None."""
    if CADDY is None:
        return "caddy not installed (apt install caddy)"
    if UNSHARE is None:
        return "unshare not installed (apt install util-linux)"
    return None


class Caddy:
    """One Caddy process serving the ACME CA ``local``; ``stop()`` is idempotent."""

    def __init__(self, directory: Path, dns: LoopbackDns) -> None:
        if CADDY is None or UNSHARE is None:
            raise RuntimeError(missing() or "")
        self.dir = directory
        self.storage = directory / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.port = launch.free_port()
        self.directory = f"https://127.0.0.1:{self.port}/acme/local/directory"
        self.root_file = self.storage / "pki" / "authorities" / "local" / "root.crt"
        self.log = directory / "caddy.log"
        (directory / "Caddyfile").write_text(CADDYFILE.format(
            admin=launch.free_port(), storage=self.storage, http=launch.free_port(),
            https=launch.free_port(), port=self.port, ca_name=CA_NAME))
        (directory / "hosts").write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
        (directory / "resolv.conf").write_text(
            f"nameserver {dns.ip}\noptions timeout:2 attempts:2\n")
        inner = " && ".join([
            f"mount --bind {shlex.quote(str(directory / 'hosts'))} /etc/hosts",
            f"mount --bind {shlex.quote(str(directory / 'resolv.conf'))} /etc/resolv.conf",
            f"exec {shlex.quote(CADDY)} run --config "
            f"{shlex.quote(str(directory / 'Caddyfile'))} --adapter caddyfile"])
        # Not root: a user namespace maps us to root inside, enough to bind-mount.
        userns = [] if os.geteuid() == 0 else ["--map-root-user"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory),
               "XDG_CONFIG_HOME": str(directory / "config"),
               "XDG_DATA_HOME": str(directory / "data")}
        with self.log.open("wb") as log:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [UNSHARE, *userns, "--mount", "--propagation", "private", "sh", "-c", inner],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            if self.root_file.exists():
                ctx = ssl.create_default_context(cafile=str(self.root_file))
                try:
                    with urllib.request.urlopen(self.directory, context=ctx, timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
            if time.monotonic() > deadline or self.proc is None or self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"caddy did not start:\n{tail}")
            time.sleep(0.1)
        comm = Path(f"/proc/{self.pid}/comm").read_text().strip()
        if comm != "caddy":  # the pid must be Caddy's for stop() to reach it
            self.stop()
            raise RuntimeError(f"pid {self.pid} is {comm!r}, not caddy")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, grace=10)

    def __enter__(self) -> Caddy:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
