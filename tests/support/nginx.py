"""A throwaway nginx on loopback for tests: one process (no master, no
daemon), its own temp dir, a free port, stopped by its pid.

    with nginx_server(tmp_path, 'location / { return 200 "ok"; }') as url:
        ...  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

NGINX = "/usr/sbin/nginx"

CONF = """\
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    {access_log}
    keepalive_requests 1000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        {locations}
    }}
}}
"""


def _free_port() -> int:
    from fleetplane.launch import free_port

    return free_port()


@contextlib.contextmanager
def nginx_server(directory: Path, locations: str, *, access_log: bool = False) -> Iterator[str]:
    """nginx serving ``locations`` (the inside of a ``server`` block) on a free
    loopback port; skips the test when nginx is not installed or cannot start.
    With ``access_log`` every request is logged to ``directory/access.log``."""
    if not Path(NGINX).exists():
        pytest.skip(f"{NGINX} is not installed")
    port = _free_port()
    conf = directory / "nginx.conf"
    log = f"access_log {directory}/access.log;" if access_log else "access_log off;"
    conf.write_text(CONF.format(dir=directory, port=port, locations=locations, access_log=log))
    proc = subprocess.Popen([NGINX, "-p", str(directory), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = directory / "error.log"
                    pytest.skip("nginx did not start: "
                                + (err.read_text()[-500:] if err.exists() else "?"))
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
