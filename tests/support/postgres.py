"""One way for the test suite to get a PostgreSQL server, in this order:

1. the URL in ``FLEETLOAD_TEST_PG_URL``;
2. a server answering on 127.0.0.1:5432 with trust auth
   (``postgresql://postgres@127.0.0.1:5432/postgres``);
3. a throwaway cluster made with Debian's binaries
   (``/usr/lib/postgresql/<version>/bin/initdb`` and ``postgres``) in a
   temporary directory, on a free loopback port, its unix socket inside that
   directory; run as the ``postgres`` system user when the suite runs as root
   (PostgreSQL refuses root), stopped by its pid and removed afterwards.

Tests create and drop their own databases on whichever it is.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleetplane.launch import free_port

PG_ENV = "FLEETLOAD_TEST_PG_URL"
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BINARIES = "/usr/lib/postgresql/*/bin"
SERVICE_USER = "postgres"
_CLUSTER_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}
SOURCES = ("env", "local", "throwaway")


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server for the session, or why there is none."""

    url: str | None
    source: str
    """``FLEETLOAD_TEST_PG_URL``, ``127.0.0.1:5432`` or ``throwaway cluster``."""
    reason: str = ""
    """Why there is no server (``url`` is None)."""


class PgUnavailable(RuntimeError):
    pass


def answers(url: str, timeout: float = 2.0) -> str | None:
    """None when ``url`` accepts a connection and a query; else why not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return " ".join(str(exc).split())[:200]


def binaries() -> Path | None:
    """The newest Debian PostgreSQL ``bin`` folder holding initdb and postgres."""
    found = [Path(d) for d in glob.glob(BINARIES)
             if (Path(d) / "initdb").exists() and (Path(d) / "postgres").exists()]

    def major(d: Path) -> float:
        try:
            return float(d.parent.name)
        except ValueError:
            return 0.0

    return max(found, key=major) if found else None


class ThrowawayCluster:
    """``initdb`` + ``postgres`` in a temporary directory; ``stop()`` removes it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="fleetload-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SERVICE_USER)
            except KeyError:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise PgUnavailable(f"running as root and there is no {SERVICE_USER!r} user "
                                    "to run a throwaway PostgreSQL as") from None
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
            self._user = SERVICE_USER

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30.0) -> str:
        init = subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, timeout=120, check=False, cwd=self.dir,
            env=_CLUSTER_ENV, user=self._user, group=self._user,
            extra_groups=[] if self._user else None)
        if init.returncode != 0:
            self.stop()
            raise PgUnavailable(f"initdb failed: {(init.stderr or init.stdout).strip()[-300:]}")
        for attempt in range(3):
            self.port = free_port()
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(
                    [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                     "-c", "listen_addresses=127.0.0.1",
                     "-c", f"unix_socket_directories={self.dir}",
                     "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200"],
                    stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, env=_CLUSTER_ENV,
                    user=self._user, group=self._user, extra_groups=[] if self._user else None)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if answers(self.url, timeout=1.0) is None:
                    return self.url
                time.sleep(0.1)
            self._stop_process()
            if attempt == 2:
                tail = self.log.read_text(errors="replace")[-500:] if self.log.exists() else ""
                self.stop()
                raise PgUnavailable(f"the throwaway PostgreSQL did not start: {tail}")
        raise AssertionError("unreachable")

    def _stop_process(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self._stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    bindir = binaries()
    if bindir is None:
        raise PgUnavailable(f"no PostgreSQL binaries under {BINARIES} "
                            "(apt-get install postgresql, or scripts/install-system-deps.sh)")
    cluster = ThrowawayCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def postgres_server(sources: tuple[str, ...] = SOURCES) -> Iterator[PgServer]:
    """The session's server, trying ``sources`` in order (see the module
    docstring); ``url`` is None and ``reason`` says why when none answers."""
    reasons: list[str] = []
    if "env" in sources:
        env_url = os.environ.get(PG_ENV)
        if env_url:
            yield PgServer(env_url, PG_ENV)
            return
        reasons.append(f"{PG_ENV} is not set")
    if "local" in sources:
        local = answers(LOCAL_URL)
        if local is None:
            yield PgServer(LOCAL_URL, "127.0.0.1:5432")
            return
        reasons.append(f"127.0.0.1:5432 does not answer ({local})")
    with ExitStack() as stack:
        if "throwaway" in sources:
            try:
                cluster = stack.enter_context(throwaway_cluster())
            except PgUnavailable as exc:
                reasons.append(str(exc))
            else:
                yield PgServer(cluster.url, "throwaway cluster")
                return
        yield PgServer(None, "none", "no PostgreSQL: " + "; ".join(reasons))
