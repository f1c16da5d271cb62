"""A loopback address of our own, and a DNS server that answers every name with it.

ACME servers other than Pebble validate http-01 on port 80 of the name and look
the name up on port 53 of a resolver (acme2certifier's ``dns_server_list`` has
no port; Caddy reads ``/etc/resolv.conf``, which has none either). So the test
picks an unused address in 127.0.0.0/8 (not 127.0.0.1: port 80 there may be
anyone's), runs ``pebble-challtestsrv`` on its port 53 answering every A query
with it, and the pack's http-01 responder listens on its port 80. Nothing of
the machine's configuration changes, and nothing else listening on port 80 or
53 of 127.0.0.1 matters.

    with LoopbackDns() as dns:
        dns.ip                 # e.g. 127.83.12.201: names resolve here
        dns.http01_listen      # "127.83.12.201:80", for --http01-listen
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from types import TracebackType

from fleetplane import launch

CHALLTESTSRV = shutil.which("pebble-challtestsrv")


def _free_on(ip: str) -> bool:
    """Port 80 (TCP) and 53 (TCP and UDP) of ``ip`` can be bound right now."""
    for port, kind in ((80, socket.SOCK_STREAM), (53, socket.SOCK_STREAM),
                       (53, socket.SOCK_DGRAM)):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((ip, port))
            except OSError:
                return False
    return True


def private_loopback_ip() -> str:
    """An address of 127.0.0.0/8 outside 127.0.0.0/16 whose ports 53 and 80 are free."""
    rng = random.Random()
    for _ in range(100):
        ip = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if _free_on(ip):
            return ip
    raise RuntimeError("no loopback address with ports 53 and 80 free (binding port 80 "
                       "needs root or CAP_NET_BIND_SERVICE)")


class LoopbackDns:
    """``pebble-challtestsrv`` answering every A query with :attr:`ip`, on ``ip:53``."""

    def __init__(self) -> None:
        if CHALLTESTSRV is None:
            raise RuntimeError("pebble-challtestsrv not installed (apt install pebble)")
        self.ip = private_loopback_ip()
        self.http01_listen = f"{self.ip}:80"
        # Only the DNS part: its own challenge servers would take the ports.
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [CHALLTESTSRV, "-dns01", f"{self.ip}:53", "-http01", "", "-https01", "",
             "-tlsalpn01", "", "-management", f"{self.ip}:{launch.free_port(self.ip)}",
             "-defaultIPv4", self.ip, "-defaultIPv6", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection((self.ip, 53), 1):
                return
            if time.monotonic() > deadline or self.proc is None or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"pebble-challtestsrv did not start on {self.ip}:53")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None

    def __enter__(self) -> LoopbackDns:
        return self

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
