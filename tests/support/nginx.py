"""The one nginx launcher of the tests and the benchmarks: a throwaway nginx on
loopback, its config written from one template into its own directory (pid,
error log and temp paths there too), a free port, ``daemon off`` and, with one
worker, ``master_process off`` (so the process started *is* the server),
ready once it accepts a connection, stopped by its pid.

    with start_nginx(tmp_path, 'location / { return 200 "ok"; }') as ng:
        ...  # ng.url == "http://127.0.0.1:PORT", ng.access_log() ...

    with nginx_server(tmp_path, 'location / { return 200 "ok"; }') as url:
        ...  # the same, for tests that only need the URL

``server`` is the inside of the one ``server`` block, ``http`` more lines of
the ``http`` block (an ``upstream``...), ``main`` more top-level lines.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.processes import stop_process, wait_listening

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

TEMPLATE = """\
daemon off;
master_process {master};
worker_processes {workers};
{main}
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
    {access_log}
    keepalive_requests {keepalive_requests};
    keepalive_timeout {keepalive_timeout};
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    {http}
    server {{
        listen 127.0.0.1:{port}{listen};
        {tls}
        {server}
    }}
}}
"""


class NginxError(RuntimeError):
    """nginx is not installed, or did not start (the message has its error log's tail)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """One nginx serving ``server`` on ``127.0.0.1:port``. ``tls`` is (certificate,
    key) or (certificate, key, client CA): https, and with a client CA client
    certificates are required. ``log_format`` logs every request to
    ``access.log`` in that format; ``access_log=True`` in nginx's own. ``cpu``
    pins it with ``taskset``; ``workers`` > 1 runs a master process; ``new_session``
    keeps it out of the terminal's Ctrl-C (the caller stops it)."""

    def __init__(self, directory: Path | str, server: str, *, http: str = "", main: str = "",
                 listen: str = "", tls: tuple[Path, ...] | None = None,
                 access_log: bool = False, log_format: str | None = None,
                 connections: int = 1024, keepalive_requests: int = 1_000_000,
                 keepalive_timeout: str = "75s", workers: int = 1, port: int | None = None,
                 cpu: int | None = None, preexec_fn: Callable[[], object] | None = None,
                 new_session: bool = False) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.tls = tls
        self.cpu = cpu
        self.preexec_fn = preexec_fn
        self.new_session = new_session
        log = "access_log off;"
        if log_format is not None:
            log = f"log_format custom '{log_format}'; access_log {self.directory}/access.log custom;"
        elif access_log:
            log = f"access_log {self.directory}/access.log;"
        tls_lines = ""
        if tls is not None:
            tls_lines = f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]};"
            if len(tls) > 2:
                tls_lines += f" ssl_client_certificate {tls[2]}; ssl_verify_client on;"
        self.config = TEMPLATE.format(
            dir=self.directory, port=self.port, server=server, http=http, main=main,
            listen=(" ssl" if tls else "") + (f" {listen}" if listen else ""), tls=tls_lines,
            access_log=log, connections=connections, keepalive_requests=keepalive_requests,
            keepalive_timeout=keepalive_timeout, workers=workers,
            master="on" if workers > 1 else "off")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 10.0) -> Nginx:
        if not Path(NGINX).exists():
            raise NginxError(f"{NGINX} is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(self.config)
        cmd = [NGINX, "-p", str(self.directory), "-c", str(conf),
               "-e", str(self.directory / "error.log")]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=self.new_session, preexec_fn=self.preexec_fn)
        if wait_listening(self.port, self.proc, timeout):
            return self
        log = self.error_log()[-500:]
        self.stop()
        raise NginxError(f"nginx did not start on port {self.port}: {log or '?'}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc)

    def error_log(self) -> str:
        p = self.directory / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def access_log(self) -> list[str]:
        p = self.directory / "access.log"
        return p.read_text().splitlines() if p.exists() else []

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_nginx(directory: Path | str, server: str, **options: Any) -> Nginx:
    """``with start_nginx(...) as ng``: a :class:`Nginx` (same arguments),
    started on entering, stopped by its pid on leaving."""
    return Nginx(directory, server, **options)


@contextlib.contextmanager
def nginx_server(directory: Path, locations: str, *, access_log: bool = False) -> Iterator[str]:
    """nginx serving ``locations`` (the inside of a ``server`` block) on a free
    loopback port; skips the test when nginx is not installed or cannot start.
    With ``access_log`` every request is logged to ``directory/access.log``."""
    import pytest

    ng = Nginx(directory, locations, access_log=access_log)
    try:
        ng.start(timeout=5)
    except NginxError as e:
        pytest.skip(str(e))
    try:
        yield ng.url
    finally:
        ng.stop()
