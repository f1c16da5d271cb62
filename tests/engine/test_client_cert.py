"""One client identity for a whole run (--client-cert/--client-key, a script's
options), against the reference target requiring client certificates
(--client-ca), and the target's check that a registering agent's certificate
names its hostname."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetload.protocols.http.client import HttpClient
from fleetload.protocols.http.tls import identity_problem
from fleetplane.launch import RunningTarget
from tests.conftest import run_cli
from tests.support.pki import TestCA, start_mtls_target


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestCA, Path]:
    return TestCA.create(), tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def mtls_target(pki: tuple[TestCA, Path]) -> Iterator[RunningTarget]:
    ca, directory = pki
    target = start_mtls_target(directory / "target", ca)
    yield target
    target.stop()


@pytest.fixture(scope="module")
def client_pair(pki: tuple[TestCA, Path]) -> tuple[Path, Path]:
    ca, directory = pki
    return ca.client("loadgen-1").write(directory / "client", "loadgen-1")


def _oneliner(target: RunningTarget, out: Path, *extra: str):
    # about client identities, not schedule keeping
    return run_cli("run", "--url", target.url + "/healthz", "--rate", "20", "--duration", "1s",
                   "--quiet", "--out", str(out), "--allow-inconclusive",
                   "--ca-cert", str(target.ca_file), *extra)


def test_the_target_banner_says_client_certificates_are_required(mtls_target):
    assert "client-certificates=required" in mtls_target.banner


def test_oneliner_presents_the_client_certificate(mtls_target, client_pair, tmp_path):
    cert, key = client_pair
    r = _oneliner(mtls_target, tmp_path / "ok", "--client-cert", str(cert), "--client-key", str(key))
    assert r.code == 0, r.stderr
    s = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert s["metrics"]["http_reqs"]["values"]["count"] == 20
    assert s["metrics"]["http_req_failed"]["values"]["rate"] == 0


def test_without_a_client_certificate_the_handshake_fails(mtls_target, tmp_path):
    r = _oneliner(mtls_target, tmp_path / "pre")
    assert r.code == 2
    assert "tls_error: TLS handshake failed: TLSV13_ALERT_CERTIFICATE_REQUIRED" in r.stderr
    assert "--client-cert FILE --client-key FILE" in r.stderr
    r = _oneliner(mtls_target, tmp_path / "run", "--no-preflight")
    assert r.code == 0, r.stderr
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["metrics"]["http_req_failed"]["values"]["rate"] == 1
    reasons = s["scenarios"]["default"]["failures"]["reasons"]
    assert [x["error"] for x in reasons] == ["tls_error"]
    assert "CERTIFICATE_REQUIRED" in reasons[0]["samples"][0]


def test_a_certificate_from_another_ca_is_refused(mtls_target, tmp_path):
    cert, key = TestCA.create("another CA").client("loadgen-1").write(tmp_path, "stranger")
    r = _oneliner(mtls_target, tmp_path / "o", "--client-cert", str(cert), "--client-key", str(key))
    assert r.code == 2
    assert "tls_error: TLS handshake failed: TLSV1_ALERT_UNKNOWN_CA" in r.stderr


def test_a_script_sets_client_cert_in_its_options(mtls_target, client_pair, tmp_path):
    cert, key = client_pair
    script = tmp_path / "script.py"
    script.write_text(
        "from fleetload import SharedIterations, scenario\n\n"
        f"options = {{'target': {mtls_target.url!r}, 'ca_file': {str(mtls_target.ca_file)!r},\n"
        f"           'client_cert': {str(cert)!r}, 'client_key': {str(key)!r}}}\n\n\n"
        "@scenario(SharedIterations(vus=2, iterations=6))\n"
        "async def s(vu):\n"
        "    r = await vu.http.get('/api/v1/agents?per_page=1',\n"
        "                          headers={'Authorization': 'Bearer fleetload-dev-key'})\n"
        "    assert r.status == 200, r.status\n"
    )
    r = run_cli("run", str(script), "--quiet", "--out", str(tmp_path / "o"))
    assert r.code == 0, r.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["metrics"]["http_reqs"]["values"]["count"] == 6
    assert s["metrics"]["http_req_failed"]["values"]["rate"] == 0
    assert s["scenarios"]["s"]["iteration_errors"] == 0


def test_one_flag_without_the_other(mtls_target, client_pair, tmp_path):
    cert, key = client_pair
    for flags in (("--client-cert", str(cert)), ("--client-key", str(key))):
        r = _oneliner(mtls_target, tmp_path / "o", *flags)
        assert r.code == 2
        assert r.stderr.strip().splitlines()[-1] == (
            "fleetload: error: --client-cert and --client-key go together: give both or neither")
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_script_option_without_its_pair(tmp_path):
    script = tmp_path / "half.py"
    script.write_text("from fleetload import SharedIterations, scenario\n\n"
                      "options = {'client_cert': 'c.pem'}\n\n\n"
                      "@scenario(SharedIterations(vus=1, iterations=1))\n"
                      "async def s(vu):\n    pass\n")
    r = run_cli("run", str(script), "--quiet", "--out", str(tmp_path / "o"))
    assert r.code == 2
    assert "options client_cert and client_key go together: give both or neither" in r.stderr
    assert "Traceback" not in r.stderr


def test_unloadable_identities_are_refused_before_the_run(mtls_target, pki, client_pair, tmp_path):
    ca, _ = pki
    cert, key = client_pair
    other_cert, other_key = ca.client("other").write(tmp_path, "other")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    cases = [
        ((cert, tmp_path / "missing.key"),
         f"cannot read client key '{tmp_path / 'missing.key'}': No such file or directory"),
        ((junk, key), "no PEM certificate in the certificate file"),
        ((cert, junk), "no PEM private key in the key file"),
        ((cert, other_key), "the key does not match the certificate"),
        ((key, cert), "no PEM certificate in the certificate file"),
    ]
    for (c, k), message in cases:
        r = _oneliner(mtls_target, tmp_path / "o", "--client-cert", str(c), "--client-key", str(k))
        assert r.code == 2, (c, k)
        assert message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "BEGIN" not in r.stderr
    assert not (tmp_path / "o").exists()
    assert identity_problem(other_cert.read_bytes(), other_key.read_bytes()) is None


def test_the_environment_sets_the_client_identity(mtls_target, client_pair, tmp_path):
    cert, key = client_pair
    r = run_cli("run", "--url", mtls_target.url + "/healthz", "--rate", "10", "--duration", "1s",
                "--quiet", "--out", str(tmp_path / "o"), "--allow-inconclusive",
                env={"FLEETLOAD_CA_CERT": str(mtls_target.ca_file),
                     "FLEETLOAD_CLIENT_CERT": str(cert), "FLEETLOAD_CLIENT_KEY": str(key)})
    assert r.code == 0, r.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["metrics"]["http_req_failed"]["values"]["rate"] == 0


def test_the_config_file_sets_the_client_identity(mtls_target, client_pair, tmp_path):
    cert, key = client_pair
    (tmp_path / "fleetload.toml").write_text(
        f"[run]\nca-cert = {str(mtls_target.ca_file)!r}\n"
        f"client-cert = {str(cert)!r}\nclient-key = {str(key)!r}\n")
    r = run_cli("run", "--url", mtls_target.url + "/healthz", "--rate", "10", "--duration", "1s",
                "--quiet", "--out", str(tmp_path / "o"), "--allow-inconclusive", cwd=tmp_path)
    assert r.code == 0, r.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["metrics"]["http_req_failed"]["values"]["rate"] == 0
    assert s["metrics"]["http_reqs"]["values"]["count"] == 10


async def _register(target: RunningTarget, cert: Path, key: Path, hostname: str):
    client = HttpClient(base_url=target.url, ca_file=target.ca_file,
                        client_cert=(str(cert), str(key)), bearer_token=target.api_key)
    try:
        return await client.request("POST", "/api/v1/agents",
                                    json={"name": hostname, "hostname": hostname})
    finally:
        await client.close()


def test_registration_checks_the_certificate_names_the_hostname(mtls_target, pki, tmp_path):
    ca, _ = pki
    cert, key = ca.client("agent-7.fleet.test").write(tmp_path, "agent-7")
    ok = asyncio.run(_register(mtls_target, cert, key, "agent-7.fleet.test"))
    assert ok.status == 201, ok.body
    refused = asyncio.run(_register(mtls_target, cert, key, "agent-8.fleet.test"))
    assert refused.status == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["detail"] == "client certificate does not name agent-8.fleet.test"
    # A DNS SAN names the host as well as the CN does (names compare without case).
    san_only = ca.client("device 9", dns_names=["agent-9.fleet.test"]).write(tmp_path, "agent-9")
    assert asyncio.run(_register(mtls_target, *san_only, "AGENT-9.fleet.test")).status == 201
    cn_only = ca.client("agent-10.fleet.test", dns_names=[]).write(tmp_path, "agent-10")
    assert asyncio.run(_register(mtls_target, *cn_only, "agent-10.fleet.test")).status == 201
    assert asyncio.run(_register(mtls_target, *cn_only, "device 9")).status == 403
    metrics = asyncio.run(_get(mtls_target, cert, key, "/metrics")).body.decode()
    refused = re.search(r'fleetplane_agent_registrations_total\{outcome="refused",transport="rest"\} '
                        r"(\d+)", metrics)
    assert refused is not None and int(refused.group(1)) == 2, metrics[-2000:]


async def _get(target: RunningTarget, cert: Path, key: Path, path: str):
    client = HttpClient(base_url=target.url, ca_file=target.ca_file,
                        client_cert=(str(cert), str(key)), bearer_token=target.api_key)
    try:
        return await client.request("GET", path)
    finally:
        await client.close()


def test_a_client_without_a_certificate_reads_why_it_was_refused(mtls_target):
    ctx = ssl.create_default_context(cafile=mtls_target.ca_file)
    port = int(mtls_target.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
            tls.recv(100)


def test_a_tls12_client_without_a_certificate_fails_in_the_handshake(mtls_target):
    ctx = ssl.create_default_context(cafile=mtls_target.ca_file)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    port = int(mtls_target.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")
