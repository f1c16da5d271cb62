"""Fixtures for the pack tests: the reference target (SQLite, on 127.0.0.1),
seeded or empty, one with its rate limiter on, one seeded target per profile
(fleetplane and certctl) for the profile matrix, and real nginx and HAProxy
serving TLS with a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from fleetplane.launch import RunningTarget, free_port, start_target  # noqa: E402
from fleetplane.seed import seed_database  # noqa: E402
from tests.conftest import CliResult, run_cli  # noqa: E402
from tests.support.nginx import start_nginx  # noqa: E402
from tests.support.processes import stop_process, wait_listening  # noqa: E402

ADMIN_KEY = "packs-admin-key"
SEED_CERTS = 300
SEED_AGENTS = 200
# Fast built-in renewal workers, so bulk renewals drain within a short test.
FAST_RENEWALS = ("--renewal-workers", "4", "--renewal-latency", "0.005")


def db_url(target: RunningTarget) -> str:
    return target.argv[target.argv.index("--db") + 1]


@pytest.fixture(scope="session")
def seeded_target() -> Iterator[RunningTarget]:
    """Shared: 300 certificates and 200 agents of the certctl fixture."""
    with start_target(admin_key=ADMIN_KEY, extra_args=FAST_RENEWALS) as t:
        seed_database(db_url(t), certs=SEED_CERTS, agents=SEED_AGENTS)
        yield t


@pytest.fixture
def empty_target() -> Iterator[RunningTarget]:
    with start_target(admin_key=ADMIN_KEY, extra_args=FAST_RENEWALS) as t:
        yield t


@pytest.fixture(scope="session")
def limited_target() -> Iterator[RunningTarget]:
    """Rate limited (100 req/s, burst 100) so ACME bursts get real 429s."""
    with start_target(rate_limit=100) as t:
        seed_database(db_url(t), certs=50, agents=0)
        yield t


# -- one seeded target per profile (tests/packs/test_profiles.py) ------------------------
PROFILE_CERTS = 100
PROFILE_AGENTS = 100
PROFILES = ["fleetplane", "certctl"]


def wait_for(what: str, ready: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="session", params=PROFILES)
def profile_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[RunningTarget]:  # fmt: skip
    """The profile's target, seeded before it starts, as a user runs it for a
    load test: certctl with its rate limiter off (certctl's advice to load
    testers). certctl's scheduler takes the 30-day fixture into renewal at
    start-up; this waits until those renewals are done, as a user would."""
    db = "sqlite:///" + str(tmp_path_factory.mktemp("profiledb") / "t.db").lstrip("/")
    seed_database(db, certs=PROFILE_CERTS, agents=PROFILE_AGENTS)
    with start_target(db, profile=request.param, rate_limit=False if request.param == "certctl" else None,
                      admin_key=ADMIN_KEY, extra_args=FAST_RENEWALS) as t:  # fmt: skip
        wait_for("the start-up renewals", lambda: api(
            t, "GET", "/api/v1/certificates?status=RenewalInProgress&per_page=1")["total"] == 0)
        yield t


@pytest.fixture(scope="session")
def limited_certctl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    """The certctl profile as it starts: its rate limiter on (50/s per client, burst 100)."""
    db = "sqlite:///" + str(tmp_path_factory.mktemp("limiteddb") / "t.db").lstrip("/")
    seed_database(db, certs=0, agents=PROFILE_AGENTS)
    with start_target(db, profile="certctl") as t:
        yield t


def metrics_text(target: RunningTarget) -> str:
    path = "/api/v1/metrics/prometheus" if target.profile == "certctl" else "/metrics"
    req = urllib.request.Request(target.url + path, headers={"Authorization": f"Bearer {target.api_key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.read().decode())


def served(target: RunningTarget) -> dict[tuple[str, str], float]:
    """Requests the target counted, by (method, route template), all statuses."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text(target)):
        if family.name != "fleetplane_http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                key = (sample.labels["method"], sample.labels["route"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


def rate_limited(target: RunningTarget) -> float:
    for line in metrics_text(target).splitlines():
        if line.startswith("fleetplane_http_rate_limited_total "):
            return float(line.split()[1])
    return 0.0


@dataclass
class PackRun:
    result: CliResult
    summary: dict[str, Any]

    @property
    def code(self) -> int:
        return self.result.code

    def count(self, key: str) -> float:
        m = self.summary["metrics"].get(key)
        return float(m["values"]["count"]) if m else 0.0


def run_pack(pack: str, target: RunningTarget | None, out: Path, *args: str,
             cwd: Path | None = None) -> PackRun:
    argv = ["run", pack, "--out", str(out), "--quiet"]
    if target is not None:
        argv += ["--target", target.url, "--token", target.api_key]
    r = run_cli(*argv, *args, cwd=cwd)
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return PackRun(r, summary)


def api(target: RunningTarget, method: str, path: str, key: str | None = None) -> Any:
    req = urllib.request.Request(target.url + path, method=method,
                                 headers={"Authorization": f"Bearer {key or target.api_key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


# -- TLS deployment targets --------------------------------------------------------------
@dataclass
class Tls:
    cert: Path
    key: Path
    combined: Path  # cert + key in one PEM (HAProxy's "ssl crt")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector-tier test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    tls = Tls(d / "cert.pem", d / "key.pem", d / "combined.pem")
    tls.cert.write_bytes(cert_pem)
    tls.key.write_bytes(key_pem)
    tls.combined.write_bytes(cert_pem + key_pem)
    return tls


HAPROXY_CONF = """\
global
    maxconn 1000
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend connector
    bind 127.0.0.1:{port} ssl crt {pem}
    http-request return status 200 content-type text/plain string ok
"""


@pytest.fixture(scope="session")
def nginx_tls(tmp_path_factory: pytest.TempPathFactory, tls_files: Tls) -> Iterator[str]:
    with start_nginx(tmp_path_factory.mktemp("nginx"), 'location / { return 200 "ok"; }',
                     tls=(tls_files.cert, tls_files.key)) as ng:
        yield ng.url


@pytest.fixture(scope="session")
def haproxy_tls(tmp_path_factory: pytest.TempPathFactory, tls_files: Tls) -> Iterator[str]:
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(exe):
        pytest.skip("haproxy is not installed")
    d = tmp_path_factory.mktemp("haproxy")
    port = free_port()
    conf = d / "haproxy.cfg"
    conf.write_text(HAPROXY_CONF.format(port=port, pem=tls_files.combined))
    log = d / "haproxy.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([exe, "-db", "-f", str(conf)], stdout=fh, stderr=subprocess.STDOUT)
    try:
        if not wait_listening(port, proc, 10):
            raise RuntimeError(f"haproxy did not listen on {port}: {log.read_text()}")
        yield f"https://127.0.0.1:{port}"
    finally:
        stop_process(proc)
