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

from fleetplane import launch
from tests.support.certs import make_ca_and_server

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    # below the ephemeral range: Pebble binds later, in another process
    return launch.free_port("127.0.0.1", kind)


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem): a CA and a localhost/127.0.0.1 server cert."""
    return make_ca_and_server(directory)


class Pebble:
    """Pebble and its mock DNS as child processes; ``stop()`` is idempotent."""

    def __init__(self, *, http_port: int = 5002, tls_port: int = 5001,
                 env: dict[str, str] | None = None, cpu: int | None = None,
                 log: bool = False, nonce_reject: int | None = 0) -> None:
        """``nonce_reject``: the percentage of valid nonces Pebble refuses with
        badNonce (``PEBBLE_WFE_NONCEREJECT``); None leaves Pebble's default, 5."""
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
        full_env.pop("PEBBLE_WFE_NONCEREJECT", None)
        full_env["PEBBLE_VA_NOSLEEP"] = "1"
        if nonce_reject is not None:
            full_env["PEBBLE_WFE_NONCEREJECT"] = str(nonce_reject)
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
