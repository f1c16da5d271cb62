"""acme-enroll against Caddy's ACME server (smallstep's ACME code): real http-01
validation on port 80 of a private loopback address, real certificates, and a
failed validation reported with Caddy's own error."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from fleetplane import launch
from tests.peers.caddy import Caddy, missing
from tests.protocols.acme.conftest import run_pack
from tests.protocols.acme.loopback_dns import CHALLTESTSRV, LoopbackDns

_MISSING = missing() or (None if CHALLTESTSRV else "pebble-challtestsrv not installed "
                                                    "(apt install pebble)")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

REJECTED = "urn:ietf:params:acme:error:rejectedIdentifier"
CONNECTION = "urn:ietf:params:acme:error:connection"


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDns]:
    with LoopbackDns() as server:
        yield server


@pytest.fixture(scope="module")
def caddy(dns: LoopbackDns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caddy]:
    with Caddy(tmp_path_factory.mktemp("caddy"), dns) as server:
        yield server


def _args(caddy: Caddy, http01: str, *extra: str) -> list[str]:
    return ["--directory", caddy.directory, "--ca-cert", str(caddy.root_file),
            "--http01-listen", http01, *extra]


def test_enrollments_issue_certificates_for_the_names(caddy: Caddy, dns: LoopbackDns,
                                                      tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    run = run_pack(tmp_path, *_args(caddy, dns.http01_listen, "--rate", "3", "--duration", "3s",
                                    "--max-names", "2", "--max-accounts", "3",
                                    "--save-certs", str(certs)))
    assert run.result.code == 0, run.result.stdout + run.result.stderr
    assert run.count("acme_enrollments") == 9
    assert run.rate("acme_enrollment_failed") == 0.0
    assert run.acme["problems"] == {} and run.acme["protocol_errors"] == {}
    root = x509.load_pem_x509_certificate(caddy.root_file.read_bytes())
    metas = sorted(certs.glob("*.json"))
    assert len(metas) == 9
    for meta in metas:
        chain = x509.load_pem_x509_certificates(meta.with_suffix(".pem").read_bytes())
        for child, parent in zip(chain, [*chain[1:], root], strict=True):
            child.verify_directly_issued_by(parent)  # leaf <- Caddy's intermediate <- root
        san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = json.loads(meta.read_text())["names"]
        assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
        assert all(n.endswith(".fleetload.test") for n in names)
    assert caddy.alive()


class _WrongAnswer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"not-the-key-authorization"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def wrong_responder(dns: LoopbackDns) -> Iterator[ThreadingHTTPServer]:
    """Port 80 of the names' address answers every token with the wrong content."""
    server = ThreadingHTTPServer((dns.ip, 80), _WrongAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("answer,type_,detail", [
    # Caddy marks the challenge invalid but leaves the authorization pending.
    ("wrong content", REJECTED, "The server will not issue certificates for the identifier"),
    # Nothing on port 80: the challenge stays pending, with the error.
    ("nothing", CONNECTION, "The server could not connect to validation target"),
])
def test_failed_validation_is_caddys_problem_not_a_poll_timeout(
        caddy: Caddy, dns: LoopbackDns, tmp_path: Path, request: pytest.FixtureRequest,
        answer: str, type_: str, detail: str) -> None:
    if answer == "wrong content":
        request.getfixturevalue("wrong_responder")
    # The pack's own responder listens elsewhere: Caddy never reaches it.
    elsewhere = f"{dns.ip}:{launch.free_port(dns.ip)}"
    t0 = time.monotonic()
    run = run_pack(tmp_path, *_args(caddy, elsewhere, "--rate", "2", "--duration", "1s",
                                    "--poll-timeout", "60s"))
    assert time.monotonic() - t0 < 30  # far from the 60 s poll timeout
    assert run.result.code == 99  # the failed-share threshold
    assert run.rate("acme_enrollment_failed") == 1.0
    assert run.acme["protocol_errors"] == {}  # no "authz poll: poll timeout"
    assert run.acme["problems"] == {type_: 2.0}
    assert run.acme["problem_details"] == [
        {"step": "challenge", "type": type_, "detail": detail, "count": 2.0}]
    assert f"2 at challenge: {detail}" in run.result.stdout
