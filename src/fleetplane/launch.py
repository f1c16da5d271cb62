"""Start ``python -m fleetplane target`` as a subprocess (tests, demos, benchmarks)."""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from threading import Thread
from types import TracebackType
from typing import IO

from fleetplane.config import DEV_API_KEY
from fleetplane.profile import get_profile

_SRC = str(Path(__file__).resolve().parent.parent)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port free a moment ago, below the kernel's ephemeral range.

    ``bind(0)`` hands out an ephemeral port, which any outgoing connection on
    the machine may take before the server binds it (seen with suites that make
    thousands of connections); ports below the range are only ever taken by
    listeners.
    """
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(max(1024, low - 10_000), low - 1)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class TargetStartError(RuntimeError):
    pass


class RunningTarget:
    """A target subprocess on fixed loopback ports; ``restart()`` reuses them."""

    def __init__(
        self,
        argv: list[str],
        *,
        url: str,
        grpc_target: str,
        api_key: str,
        admin_key: str | None,
        env: dict[str, str],
        ca_file: str | None,
        startup_timeout: float,
        db_url: str = "",
        stdout: IO[str] | None = None,
        profile: str = "fleetplane",
    ) -> None:
        self.argv = argv
        self.profile = profile
        self.ready_path = get_profile(profile).ready_path
        self.url = url
        self.db_url = db_url
        self.grpc_target = grpc_target
        self.api_key = api_key
        self.admin_key = admin_key
        self.ca_file = ca_file
        self._env = env
        self._timeout = startup_timeout
        self._stdout = stdout
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self.banner = ""
        self.proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "target not started"
        return self.proc.pid

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def _pump(self, stream: IO[str], into_tail: bool) -> None:
        for line in stream:
            if into_tail:
                self._stderr_tail.append(line)
            elif line.startswith("fleetplane ready:"):
                self.banner = line.strip()
            if self._stdout is not None:
                self._stdout.write(line)

    def start(self) -> RunningTarget:
        self._stderr_tail.clear()
        self.proc = subprocess.Popen(
            self.argv,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl-C in the parent's terminal must not hit it
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        Thread(target=self._pump, args=(self.proc.stdout, False), daemon=True).start()
        Thread(target=self._pump, args=(self.proc.stderr, True), daemon=True).start()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self._timeout
        ctx = self.ssl_context()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the pump threads drain stderr
                raise TargetStartError(
                    f"target exited with {self.proc.returncode} during startup:\n{self.stderr_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=1, context=ctx) as resp:
                    if resp.status == 200:
                        self._wait_banner(deadline)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        self.kill()
        raise TargetStartError(f"target not ready within {self._timeout:.0f}s:\n{self.stderr_tail()}")

    def _wait_banner(self, deadline: float) -> None:
        # The ready line is printed a moment after the socket is bound.
        while not self.banner and time.monotonic() < min(deadline, time.monotonic() + 2):
            time.sleep(0.02)

    def stderr_tail(self) -> str:
        return "".join(self._stderr_tail) or "(no stderr output)"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL (crash simulation for restart tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self, *, graceful: bool = True) -> RunningTarget:
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start()

    def __enter__(self) -> RunningTarget:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_target(
    db: str | None = None,
    *,
    profile: str = "fleetplane",
    pool_size: int = 10,
    auth_secret: str = DEV_API_KEY,
    admin_key: str | None = None,
    rate_limit: float | bool | None = None,
    rate_limit_burst: int | None = None,
    tls: bool = False,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    stdout: IO[str] | None = None,
    python: str | None = None,
    cpu: int | None = None,
) -> RunningTarget:
    """Spawn a target on free loopback ports and wait until it is ready.

    ``profile`` is ``fleetplane`` or ``certctl`` (``--profile``). ``rate_limit``:
    None keeps the profile's default (certctl: 50/s per client, fleetplane:
    off), a number sets it, False turns it off. ``db`` defaults to a fresh
    SQLite file in a temp dir. ``cpu`` pins the process with ``taskset -c``
    (benchmarks). With ``tls=True`` a self-signed certificate is generated
    here and exposed as ``.ca_file``.
    """
    get_profile(profile)  # a bad name fails here, not in the child
    for attempt in range(3):
        try:
            return _start_target_on(free_port(), free_port(), db, profile=profile, pool_size=pool_size,
                                    auth_secret=auth_secret, admin_key=admin_key,
                                    rate_limit=rate_limit, rate_limit_burst=rate_limit_burst,
                                    tls=tls, extra_args=extra_args,
                                    env=env, startup_timeout=startup_timeout, stdout=stdout,
                                    python=python, cpu=cpu)
        except TargetStartError as exc:
            # another listener took a port between the check and the bind
            if "address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_target_on(
    http_port: int,
    grpc_port: int,
    db: str | None,
    *,
    profile: str,
    pool_size: int,
    auth_secret: str,
    admin_key: str | None,
    rate_limit: float | bool | None,
    rate_limit_burst: int | None,
    tls: bool,
    extra_args: Sequence[str],
    env: Mapping[str, str] | None,
    startup_timeout: float,
    stdout: IO[str] | None,
    python: str | None,
    cpu: int | None,
) -> RunningTarget:
    if db is None:
        db = "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="fleetplane-"), "fleetplane.db").lstrip("/")
    argv = [
        python or sys.executable, "-m", "fleetplane", "target", "--profile", profile,
        "--db", db, "--pool-size", str(pool_size), "--auth-secret", auth_secret,
        "--listen", f"127.0.0.1:{http_port}", "--grpc-listen", f"127.0.0.1:{grpc_port}",
    ]  # fmt: skip
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    if admin_key:
        argv += ["--admin-key", admin_key]
    if rate_limit is False:
        argv += ["--no-rate-limit"]
    elif rate_limit and rate_limit is not True:
        argv += ["--rate-limit", str(rate_limit)]
    if rate_limit_burst is not None:
        argv += ["--rate-limit-burst", str(rate_limit_burst)]
    ca_file = None
    if tls:
        from fleetplane.tlsgen import write_self_signed

        ca_file, key_file = write_self_signed(tempfile.mkdtemp(prefix="fleetplane-tls-"))
        argv += ["--tls-cert", ca_file, "--tls-key", key_file]
    argv += list(extra_args)
    full_env = dict(os.environ if env is None else env)
    # Make `-m fleetplane` importable when the package is not installed.
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, full_env.get("PYTHONPATH")) if p)
    target = RunningTarget(
        argv,
        url=f"{'https' if tls else 'http'}://127.0.0.1:{http_port}",
        grpc_target=f"127.0.0.1:{grpc_port}",
        api_key=auth_secret.split(",")[0].strip(),
        admin_key=admin_key,
        env=full_env,
        ca_file=ca_file,
        startup_timeout=startup_timeout,
        db_url=db,
        stdout=stdout,
        profile=profile,
    )
    return target.start()
