"""Start a throwaway nginx on loopback for benchmarks (shared helper).

    from nginx import Nginx          # with bench/ on sys.path
    with Nginx(cpu=1) as ng:         # taskset -c 1, free port, temp dir
        print(ng.url)                # http://127.0.0.1:PORT/

The server is one worker, no master, no daemon (so the Popen *is* the server),
``access_log off``, a keepalive long enough that connections are never closed
during a run, and one location that answers ``200 ok`` (``text/plain``).
Everything (config, pid file, error log, temp paths) lives in a temp dir that
is removed on exit. ``stop()`` is idempotent and is also registered with
``atexit`` and run on SIGTERM, so nginx does not outlive the benchmark even on
Ctrl-C or an exception; as a last resort nginx is started with
``PR_SET_PDEATHSIG`` so it is terminated when the benchmark process dies.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "ok";
        }}
    }}
}}
"""


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn: the child gets `sig` when the process that started it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_LIVE: set[Nginx] = set()


def _stop_all() -> None:
    for ng in list(_LIVE):
        ng.stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    raise SystemExit(128 + signum)


atexit.register(_stop_all)
with contextlib.suppress(ValueError):  # not in the main thread: atexit still covers it
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


class Nginx:
    def __init__(self, cpu: int | None = 1, port: int | None = None) -> None:
        self.cpu = cpu
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="bench-nginx-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 5.0) -> Nginx:
        conf = Path(self.dir) / "nginx.conf"
        conf.write_text(CONF.format(dir=self.dir, port=self.port))
        cmd = [NGINX, "-p", self.dir, "-c", str(conf), "-e", f"{self.dir}/error.log"]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # even a SIGKILLed benchmark leaves no nginx behind
        )
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        log = self.error_log()
        self.stop()
        raise RuntimeError(f"nginx did not start on port {self.port}: {log}")

    def error_log(self) -> str:
        p = Path(self.dir) / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        _LIVE.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":  # manual check: start, curl, stop
    import urllib.request

    with Nginx() as ng:
        body = urllib.request.urlopen(ng.url, timeout=2).read()
        print(ng.url, ng.pid, body)
