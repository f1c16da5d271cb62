"""TLS and mutual TLS on the gRPC port: agents presenting their own client
certificate (one channel each), refused when it names another host, and a
handshake failure without one (or with one from another CA)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetplane.grpc_tls import certificate_names, names_host
from fleetplane.launch import RunningTarget, start_target
from fleetproto import ingest_pb2 as pb
from fleetproto import ingest_pb2_grpc as pb_grpc
from tests.support.pki import TestCA, start_mtls_target

from .conftest import run_cli

SCRIPT = str(Path(__file__).parent / "scripts" / "mtls_fleet.py")
TOKEN = "fleetload-dev-key"  # the mTLS target's API key
LATE_ACK = "heartbeat: no ack before the next tick"


def tls_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's errors but heartbeats acked late (a busy machine, not TLS)."""
    return [e for e in errors if e["error"] != LATE_ACK]


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningTarget, Path]]:
    directory = tmp_path_factory.mktemp("mtls")
    t = start_mtls_target(directory, TestCA.create(), extra_args=(
        "--push-task-prob", "0", "--push-check-prob", "0", "--push-inventory-prob", "0",
        "--push-terminal-prob", "0", "--push-query-prob", "0"))
    yield t, directory
    t.stop()


def target_counts(t: RunningTarget) -> dict[str, float]:
    """The target's agent counters (``name{labels}`` → value), read over mTLS."""
    with urllib.request.urlopen(t.url + "/metrics", timeout=10, context=t.ssl_context()) as r:
        text = r.read().decode()
    return {name: float(value) for name, _, value in
            (line.rpartition(" ") for line in text.splitlines())
            if name.startswith(("fleetplane_agent_registrations_total{",
                                "fleetplane_agent_heartbeats_total{"))}


def changes(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    return {k: int(v - before.get(k, 0.0)) for k, v in after.items() if v != before.get(k, 0.0)}


def run_mtls_fleet(t: RunningTarget, ca_dir: Path, tmp: Path, *env: str,
                   scheme: str = "grpcs://") -> tuple[Any, dict[str, Any] | None]:
    summary = tmp / "summary.json"
    proc = run_cli("run", SCRIPT, "--ca-cert", str(ca_dir / "ca.pem"),
                   "--results-dir", str(tmp / "results"), "--summary-export", str(summary),
                   "-e", f"MTLS_CA_DIR={ca_dir}", "-e", f"MTLS_GRPC_TARGET={scheme}{t.grpc_target}",
                   "-e", f"MTLS_TOKEN={TOKEN}", *(x for kv in env for x in ("-e", kv)), timeout=120)
    data = json.loads(summary.read_text()) if summary.exists() else None
    return proc, data


def fleet_of(summary: dict[str, Any] | None) -> dict[str, Any]:
    assert summary is not None
    section: dict[str, Any] = summary["scenarios"]["fleet"]["fleet"]
    return section


GRPC_APPROVED = 'fleetplane_agent_registrations_total{outcome="approved",transport="grpc"}'
GRPC_MISMATCH = 'fleetplane_agent_registrations_total{outcome="certificate_mismatch",transport="grpc"}'
GRPC_HEARTBEATS = 'fleetplane_agent_heartbeats_total{transport="grpc"}'


def test_agents_with_their_own_certificates_register_and_heartbeat(
        mtls: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, ca_dir = mtls
    before = target_counts(t)
    proc, summary = run_mtls_fleet(t, ca_dir, tmp_path, "MTLS_AGENTS=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    f = fleet_of(summary)
    assert f["registrations"] == {"active": 4, "pending": 0, "failed": 0}
    assert tls_errors(f["errors"]) == [], f["errors"]
    assert f["heartbeats"]["sent"] >= 4 * 3
    # one channel per agent, each through one TLS handshake
    assert f["tls_handshake"]["count"] == 4
    assert 0 < f["tls_handshake"]["max"] < 10_000
    assert "tls handshake p50=" in proc.stdout
    assert changes(before, target_counts(t)) == {GRPC_APPROVED: 4,
                                                 GRPC_HEARTBEATS: f["heartbeats"]["sent"]}


def test_certificate_naming_another_host_is_refused(
        mtls: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, ca_dir = mtls
    before = target_counts(t)
    proc, summary = run_mtls_fleet(t, ca_dir, tmp_path, "MTLS_AGENTS=4", "MTLS_WRONG=2")
    f = fleet_of(summary)
    assert f["registrations"] == {"active": 3, "pending": 0, "failed": 1}, proc.stderr[-3000:]
    run_id = summary["run"]["id"] if summary else ""
    assert tls_errors(f["errors"]) == [{
        "error": f"registration rejected: PERMISSION_DENIED: certificate does not name fl-{run_id}-00002",
        "count": 1}]
    after = target_counts(t)
    assert after.get(GRPC_MISMATCH, 0) - before.get(GRPC_MISMATCH, 0) == 1
    assert after.get(GRPC_APPROVED, 0) - before.get(GRPC_APPROVED, 0) == 3


@pytest.mark.parametrize("mode", ["none", "foreign"])
def test_handshake_failure_is_a_registration_error(
        mtls: tuple[RunningTarget, Path], tmp_path: Path, mode: str) -> None:
    t, ca_dir = mtls
    before = target_counts(t)
    proc, summary = run_mtls_fleet(t, ca_dir, tmp_path, "MTLS_AGENTS=3", f"MTLS_MODE={mode}",
                                   "MTLS_PREFLIGHT=0")
    f = fleet_of(summary)
    assert f["registrations"] == {"active": 0, "pending": 0, "failed": 3}, proc.stderr[-3000:]
    assert f["heartbeats"]["sent"] == 0 and f["tls_handshake"] is None
    # every attempt (the first of each agent, then retries with backoff) failed
    # the same way, with the reason
    [error] = f["errors"]
    hint = ("(a client certificate may be required)" if mode == "none"
            else "(the client certificate may be refused)")
    assert error["error"] == (f"registration failed: ConnectionError: TLS handshake with "
                              f"{t.grpc_target} failed: Socket closed {hint}"), error
    assert error["count"] >= 3
    # no agent got through the ramp: the run did not deliver its load
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "fleet ramp not completed: 3 of 3 agents never got through registration" in proc.stdout
    assert changes(before, target_counts(t)) == {}


def test_handshake_failure_stops_the_preflight(mtls: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, ca_dir = mtls
    proc, _ = run_mtls_fleet(t, ca_dir, tmp_path, "MTLS_AGENTS=3", "MTLS_MODE=none")
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "fleet preflight" in line]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].endswith(f"fleet preflight: registration failed: ConnectionError: TLS handshake "
                             f"with {t.grpc_target} failed: Socket closed "
                             "(a client certificate may be required)"), lines


def test_certificate_names_are_the_cn_and_the_dns_sans() -> None:
    ca = TestCA.create()
    cn_only = ca.client("agent-1.example", dns_names=[])
    assert names_host({"x509_pem_cert": [cn_only.cert_pem]}, "Agent-1.example")
    assert certificate_names({"x509_pem_cert": [ca.client("agent-2").cert_pem]}) == {"agent-2"}
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    san_only = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device 7")]))
                .issuer_name(ca.cert.subject).public_key(key.public_key()).serial_number(7)
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("agent-7"), x509.IPAddress(ipaddress.ip_address("10.0.0.7")),
                    x509.UniformResourceIdentifier("spiffe://fleet/agent-8")]), critical=False)
                .sign(ca.key, hashes.SHA256()))
    auth = {"x509_pem_cert": [san_only.public_bytes(serialization.Encoding.PEM)]}
    assert certificate_names(auth) == {"device 7", "agent-7"}
    assert names_host(auth, "agent-7") and not names_host(auth, "agent-8")
    assert not names_host(auth, "10.0.0.7")
    assert certificate_names({}) == set()


def test_identities_need_a_tls_grpc_target(mtls: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, ca_dir = mtls
    proc, _ = run_mtls_fleet(t, ca_dir, tmp_path, "MTLS_AGENTS=2", scheme="")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert (f"client identities need TLS on the gRPC port: --grpc-target grpcs://{t.grpc_target}"
            in proc.stderr), proc.stderr[-3000:]


def test_tls_target_serves_grpc_over_tls(tmp_path: Path) -> None:
    """``--tls``: the gRPC port is TLS too; the agents find it from ``/version``
    (grpcs, as --target is https) and share channels (one handshake each)."""
    with start_target(None, tls=True, extra_args=["--push-terminal-prob", "0",
                                                  "--push-query-prob", "0"]) as t:
        assert t.ca_file is not None
        deadline = time.monotonic() + 10  # the ready line follows readiness by a moment
        while not t.banner and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f" grpc=grpcs://{t.grpc_target} " in t.banner, t.banner
        summary = tmp_path / "summary.json"
        proc = run_cli("run", "fleet", "--target", t.url, "--ca-cert", t.ca_file,
                       "--token", t.api_key, "--agents", "6", "--conn-fanout", "4",
                       "--heartbeat-interval", "1s", "--duration", "3s",
                       "--results-dir", str(tmp_path / "results"), "--summary-export", str(summary),
                       timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        f = fleet_of(json.loads(summary.read_text()))
        assert f["registrations"] == {"active": 6, "pending": 0, "failed": 0}
        assert tls_errors(f["errors"]) == [], f["errors"]
        assert f["tls_handshake"]["count"] == 2  # 6 agents, 4 per channel
        # the port does not speak plaintext gRPC any more
        with grpc.insecure_channel(t.grpc_target) as ch:
            stub = pb_grpc.AgentIngestStub(ch)
            with pytest.raises(grpc.RpcError) as err:
                stub.Register(pb.RegisterRequest(hostname="plain", public_key=bytes(32),
                                                 token=t.api_key), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_fleet_pack_mints_identities_for_grpc_agents(
        mtls: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, ca_dir = mtls
    before = target_counts(t)
    summary = tmp_path / "summary.json"
    proc = run_cli("run", "fleet", "--transport", "grpc", "--grpc-target", f"grpcs://{t.grpc_target}",
                   "--ca-cert", str(ca_dir / "ca.pem"), "--token", TOKEN, "--agents", "3",
                   "--mint-identities", f"{ca_dir / 'ca.pem'},{ca_dir / 'ca.key'}",
                   "--heartbeat-interval", "1s", "--duration", "3s",
                   "--results-dir", str(tmp_path / "results"), "--summary-export", str(summary),
                   timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    f = fleet_of(json.loads(summary.read_text()))
    assert f["registrations"] == {"active": 3, "pending": 0, "failed": 0}
    assert tls_errors(f["errors"]) == [], f["errors"]
    assert f["identities_minted"] == 3 and f["tls_handshake"]["count"] == 3
    assert changes(before, target_counts(t)) == {GRPC_APPROVED: 3,
                                                 GRPC_HEARTBEATS: f["heartbeats"]["sent"]}


def test_certificate_naming_another_host_stops_the_preflight_naming_the_identities(
        mtls: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, ca_dir = mtls
    proc, _ = run_mtls_fleet(t, ca_dir, tmp_path, "MTLS_AGENTS=2", "MTLS_WRONG=0")
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "fleet preflight" in line]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "certificate does not name fl-" in lines[0], lines
    assert lines[0].endswith("; check the agents' client identities (--identities, "
                             "--mint-identities)"), lines
