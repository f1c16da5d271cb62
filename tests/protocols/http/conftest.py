"""Fixtures for the HTTP client tests: small real servers on 127.0.0.1 (see
``httpsrv.py``), a throwaway CA + certificate, and nginx when installed."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from httpsrv import Handler, ThreadedServer, normal_handler

from tests.support.certs import make_ca_and_server
from tests.support.nginx import nginx_server


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


@pytest.fixture
def nginx_url(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "big.bin").write_bytes(os.urandom(300_000))
    locations = (f'location / {{ return 200 "ok"; }} location /gz {{ return 200 "gz"; }} '
                 f"location /static/ {{ alias {tmp_path}/static/; }}")
    with nginx_server(tmp_path, locations) as url:
        yield url
