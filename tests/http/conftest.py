"""Fixtures for the HTTP client tests: small real servers on 127.0.0.1 (see
``httpsrv.py``), a throwaway CA + certificate, and nginx when installed."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from httpsrv import Handler, ThreadedServer, normal_handler

from tests.support.certs import make_ca_and_server


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture
def server_factory() -> Iterator[Callable[..., ThreadedServer]]:
    servers: list[ThreadedServer] = []

    def make(handler: Handler, **kw: Any) -> ThreadedServer:
        s = ThreadedServer(handler, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def http_server(server_factory: Callable[..., ThreadedServer]) -> ThreadedServer:
    return server_factory(normal_handler)


@pytest.fixture
def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


@dataclass
class TlsFiles:
    ca_file: str
    cert_file: str
    key_file: str


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed CA and a server certificate for DNS:localhost only: the
    certificate deliberately has no IP SAN, so https://127.0.0.1 is a
    hostname mismatch."""
    ca_file, cert_file, key_file = make_ca_and_server(tmp_path_factory.mktemp("tls"),
                                                      ip_san=False, days=30)
    return TlsFiles(str(ca_file), str(cert_file), str(key_file))


@pytest.fixture
def tls_server(server_factory: Callable[..., ThreadedServer],
               tls_files: TlsFiles) -> ThreadedServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files.cert_file, tls_files.key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return server_factory(normal_handler, ssl_context=ctx)


NGINX = "/usr/sbin/nginx"

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
        location /gz {{ return 200 "gz"; }}
        location /static/ {{ alias {dir}/static/; }}
    }}
}}
"""


@pytest.fixture
def nginx_url(tmp_path: Path) -> Iterator[str]:
    if not os.path.exists(NGINX):
        pytest.skip(f"{NGINX} is not installed")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "big.bin").write_bytes(os.urandom(300_000))
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp_path, port=port))
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = (tmp_path / "error.log")
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

