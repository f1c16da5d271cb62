"""Start a throwaway nginx on loopback for benchmarks (shared helper).

    from nginx import Nginx          # with bench/ on sys.path
    with Nginx(cpu=1) as ng:         # taskset -c 1, free port, temp dir
        print(ng.url)                # http://127.0.0.1:PORT/

The server is one worker, no master, no daemon (so the Popen *is* the server),
``access_log off``, a keepalive long enough that connections are never closed
during a run, and one location that answers ``200 ok`` (``text/plain``).
Everything (config, pid file, error log, temp paths) lives in a temp dir that
is removed on exit. The process is ``tests/support/nginx.py``'s launcher, the
one every test and benchmark starts nginx with. ``stop()`` is idempotent and is also registered with
``atexit`` and run on SIGTERM, so nginx does not outlive the benchmark even on
Ctrl-C or an exception; as a last resort nginx is started with
``PR_SET_PDEATHSIG`` so it is terminated when the benchmark process dies.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import nginx as launcher
from tests.support.nginx import NGINX, free_port

__all__ = ["NGINX", "Nginx", "die_with_parent", "free_port"]

SERVER = """location / {
            default_type text/plain;
            return 200 "ok";
        }"""


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """preexec_fn: the child gets `sig` when the process that started it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


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


class Nginx(launcher.Nginx):
    """The benchmarks' nginx: ``return 200 "ok"``, pinned to ``cpu``, 16,384
    connections, a 300 s keepalive, in a temp dir removed by ``stop()``."""

    def __init__(self, cpu: int | None = 1, port: int | None = None) -> None:
        super().__init__(tempfile.mkdtemp(prefix="bench-nginx-"), SERVER, port=port, cpu=cpu,
                         main="worker_rlimit_nofile 65536;", listen="backlog=4096",
                         connections=16384, keepalive_requests=10_000_000,
                         keepalive_timeout="300s", new_session=True,
                         preexec_fn=die_with_parent)  # a SIGKILLed benchmark leaves no nginx

    @property
    def url(self) -> str:
        return super().url + "/"

    def start(self, timeout: float = 5.0) -> Nginx:
        _LIVE.add(self)
        try:
            super().start(timeout)
        except launcher.NginxError as e:
            raise RuntimeError(str(e)) from e
        return self

    def stop(self) -> None:
        super().stop()
        _LIVE.discard(self)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()


if __name__ == "__main__":  # manual check: start, curl, stop
    import urllib.request

    with Nginx() as ng:
        body = urllib.request.urlopen(ng.url, timeout=2).read()
        print(ng.url, ng.pid, body)
