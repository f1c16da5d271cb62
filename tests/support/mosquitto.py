"""A throwaway Mosquitto 2.0 on loopback for tests and benchmarks: its own
config file, a free port, pid and persistence in its own directory, stopped by
its pid (never the machine's broker on 1883).

    with mosquitto(tmp_path) as broker:
        broker.url                      # mqtt://127.0.0.1:PORT
        broker.sys("publish/messages/received")  # a $SYS/broker/... counter
        broker.restart()               # same port, fresh process
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"

CONF = """\
listener {port} 127.0.0.1
user {user}
allow_anonymous {anonymous}
max_connections -1
sys_interval 1
set_tcp_nodelay true
pid_file {dir}/mosquitto.pid
persistence {persistence}
persistence_location {dir}/
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
log_type notice
connection_messages true
{extra}
"""


def _free_port() -> int:
    from fleetplane.launch import free_port

    return free_port()


class Broker:
    def __init__(self, directory: Path, *, extra: str = "", anonymous: bool = True,
                 persistence: bool = False, port: int | None = None) -> None:
        self.dir = directory
        self.port = port or _free_port()
        self.conf = directory / "mosquitto.conf"
        # As root, Mosquitto drops to the user "mosquitto", who cannot write in a
        # private temp dir: keep the current user.
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.conf.write_text(CONF.format(port=self.port, dir=directory, extra=extra, user=user,
                                         anonymous="true" if anonymous else "false",
                                         persistence="true" if persistence else "false"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.dir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}: {err}{self.log}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} in {timeout}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def restart(self, down: float = 0.0) -> None:
        self.stop()
        time.sleep(down)
        deadline = time.monotonic() + 10
        while True:  # the old socket may linger a moment
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def sys(self, name: str, timeout: float = 5.0) -> int:
        """A ``$SYS/broker/<name>`` value, read with mosquitto_sub (retained)."""
        out = subprocess.run([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(self.port),
                              "-t", f"$SYS/broker/{name}", "-C", "1", "-W", str(int(timeout))],
                             capture_output=True, text=True, timeout=timeout + 5, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"mosquitto_sub $SYS/broker/{name}: {out.stderr.strip()}")
        return int(out.stdout.split()[0])

    def sys_settled(self, name: str, wait: float = 2.5) -> int:
        """The counter once it stopped moving (it is refreshed every second)."""
        time.sleep(1.2)
        last = self.sys(name)
        deadline = time.monotonic() + wait + 5
        while time.monotonic() < deadline:
            time.sleep(1.1)
            now = self.sys(name)
            if now == last:
                return now
            last = now
        return last


@contextlib.contextmanager
def mosquitto(directory: Path, **kwargs: object) -> Iterator[Broker]:
    """A running broker (skips the test when Mosquitto is not installed)."""
    if not (Path(MOSQUITTO).exists() and Path(MOSQUITTO_SUB).exists()):
        pytest.skip(f"{MOSQUITTO} / {MOSQUITTO_SUB} are not installed (Debian: mosquitto, "
                    "mosquitto-clients)")
    broker = Broker(directory, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def subscriber(broker: Broker, topic: str, out: Path) -> Iterator[Path]:
    """``mosquitto_sub -v`` on ``topic`` (QoS 1) writing ``topic payload`` lines to ``out``."""
    with out.open("w") as f:
        proc = subprocess.Popen([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port),
                                 "-t", topic, "-q", "1", "-v"],
                                stdout=f, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            yield out
        finally:
            time.sleep(0.3)
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(5)
