"""Per-agent client TLS identities: a directory of PEM pairs, certificates
minted from a CA, and MQTT devices presenting them to a Mosquitto that
requires client certificates."""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetload.errors import ConfigError
from fleetload.fleet.identity_sources import (
    DirIdentities,
    MintedIdentities,
    find_pairs,
    source_from_params,
)
from fleetload.protocols.http.tls import identity_problem
from fleetplane.launch import free_port
from tests.support.mosquitto import Broker, mosquitto
from tests.support.pki import TestCA

ROOT = Path(__file__).resolve().parents[2]


# -- minted ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestCA, Path, Path]:
    ca = TestCA.create("fleet identities CA")
    cert, key = ca.write(tmp_path_factory.mktemp("ca"))
    return ca, cert, key


def test_minted_certificate_verifies_names_the_host_and_matches_its_key(ca_files):
    ca, cert_file, key_file = ca_files
    source = MintedIdentities(str(cert_file), str(key_file))
    who = source.identity(3, "fl-run-00003")
    cert = x509.load_pem_x509_certificate(who.cert_pem)
    cert.verify_directly_issued_by(ca.cert)  # raises when the CA did not sign it
    assert cert.issuer == ca.cert.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "fl-run-00003"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["fl-run-00003"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert identity_problem(who.cert_pem, who.key_pem) is None
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=6) < life <= datetime.timedelta(days=7, minutes=5)
    assert who.subject == "fl-run-00003"
    assert "BEGIN" not in repr(who) and "BEGIN" not in repr(source)
    # the same agent again (a reconnect): the same identity; another agent: its own key
    assert source.identity(3, "fl-run-00003") is who
    other = source.identity(4, "fl-run-00004")
    assert other.key_pem != who.key_pem
    assert identity_problem(other.cert_pem, who.key_pem) == "the key does not match the certificate"


def test_bad_ca_files_are_refused(ca_files, tmp_path):
    _ca, cert_file, key_file = ca_files
    stranger_key = TestCA.create("stranger").write(tmp_path / "s")[1]
    leaf_cert, leaf_key = _ca.client("not-a-ca").write(tmp_path, "leaf")
    cases = [
        ((cert_file, stranger_key),
         f"--mint-identities: '{cert_file}' / '{stranger_key}': the CA key does not match the certificate"),
        ((leaf_cert, leaf_key),
         f"--mint-identities: '{leaf_cert}' is not a CA certificate (no basicConstraints CA:TRUE)"),
        ((key_file, key_file), f"--mint-identities: '{key_file}' holds no PEM certificate"),
        ((cert_file, cert_file), f"--mint-identities: '{cert_file}' holds no PEM private key"),
        ((tmp_path / "nope.pem", key_file),
         f"--mint-identities: cannot read '{tmp_path / 'nope.pem'}': No such file or directory"),
    ]
    for (c, k), message in cases:
        with pytest.raises(ConfigError) as err:
            MintedIdentities(str(c), str(k))
        assert str(err.value) == message
    with pytest.raises(ConfigError, match=r"expected CA_CERT,CA_KEY \(two PEM files, comma-separated\)"):
        source_from_params(None, str(cert_file), agents=1)
    with pytest.raises(ConfigError, match="give --identities DIR or --mint-identities CA_CERT,CA_KEY, not both"):
        source_from_params(str(tmp_path), f"{cert_file},{key_file}", agents=1)


# -- a directory -------------------------------------------------------------------------------
def _identity_dir(directory: Path, ca: TestCA, names: list[str], *, style: str = "crt") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        issued = ca.client(f"cn-{name}")
        if style == "crt":
            issued.write(directory, name)
        else:
            (directory / f"{name}.pem").write_bytes(issued.cert_pem)
            (directory / f"{name}-key.pem").write_bytes(issued.key_pem)
    return directory


def test_directory_pairs_are_assigned_by_index_in_name_order(ca_files, tmp_path):
    ca, _, _ = ca_files
    crt = _identity_dir(tmp_path / "crt", ca, ["dev-03", "dev-01", "dev-02"])
    (crt / "README.txt").write_text("not a pair\n")
    source = DirIdentities.load(str(crt), 3)
    assert [source.identity(i, "ignored").subject for i in range(3)] == [
        "cn-dev-01", "cn-dev-02", "cn-dev-03"]
    assert source.identity(1, "x").cert_pem == (crt / "dev-02.crt").read_bytes()
    assert source.identity(1, "x").key_pem == (crt / "dev-02.key").read_bytes()
    pem = _identity_dir(tmp_path / "pem", ca, ["b", "a"], style="pem")
    assert [n for n, _, _ in find_pairs(str(pem))] == ["a", "b"]
    assert DirIdentities.load(str(pem), 2).identity(0, "x").subject == "cn-a"
    # only the pairs the fleet uses are needed
    assert len(DirIdentities.load(str(crt), 2).identities) == 2


def test_directory_problems_are_one_clear_error(ca_files, tmp_path):
    ca, _, _ = ca_files
    d = _identity_dir(tmp_path / "few", ca, ["a", "b", "c"])
    with pytest.raises(ConfigError) as err:
        DirIdentities.load(str(d), 5)
    assert str(err.value) == (f"--identities: '{d}' holds 3 certificate/key pairs, the fleet has "
                              "5 agents (one pair per agent)")
    (d / "b.key").write_bytes(ca.client("other").key_pem)
    with pytest.raises(ConfigError) as err:
        DirIdentities.load(str(d), 3)
    assert str(err.value) == (f"--identities: b.crt / b.key in '{d}': the key does not match "
                              "the certificate")
    (d / "d.crt").write_bytes(ca.client("d").cert_pem)
    with pytest.raises(ConfigError) as err:
        DirIdentities.load(str(d), 3)
    assert str(err.value) == f"--identities: d.crt has no key d.key in '{d}'"
    with pytest.raises(ConfigError, match="is not a directory"):
        DirIdentities.load(str(d / "a.crt"), 1)


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "fleetload", "run", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_the_packs_refuse_bad_identities_before_the_run(ca_files, tmp_path):
    ca, cert_file, key_file = ca_files
    d = _identity_dir(tmp_path / "ids", ca, ["a", "b"])
    cases = [
        (["mqtt-fleet", "--broker", "mqtts://127.0.0.1:1", "--agents", "3", "--identities", str(d)],
         f"--identities: '{d}' holds 2 certificate/key pairs, the fleet has 3 "
         "agents (one pair per agent)"),
        (["fleet", "--transport", "http", "--target", "https://127.0.0.1:1", "--agents", "2",
          "--identities", str(d), "--mint-identities", f"{cert_file},{key_file}"],
         "give --identities DIR or --mint-identities CA_CERT,CA_KEY, not both"),
        (["fleet", "--transport", "http", "--target", "https://127.0.0.1:1", "--agents", "2",
          "--mint-identities", f"{key_file},{cert_file}"],
         f"--mint-identities: '{key_file}' holds no PEM certificate"),
        (["mqtt-fleet", "--broker", "mqtt://127.0.0.1:1", "--agents", "2", "--identities", str(d)],
         "client identities (--identities, --mint-identities) need mqtts:// broker addresses"),
    ]
    for args, message in cases:
        r = _cli(*args, "--results-dir", str(tmp_path / "results"))
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("fleetload: error: ") and last.endswith(message), r.stderr
        assert "BEGIN" not in r.stderr
    assert not (tmp_path / "results").exists()


# -- MQTT devices presenting their identities --------------------------------------------------------
@dataclass
class MqttRun:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None

    def section(self, name: str) -> dict[str, Any]:
        assert self.summary is not None, self.stderr[-3000:]
        value: dict[str, Any] = self.summary["scenarios"]["devices"][name]
        return value


@dataclass
class MtlsBroker:
    broker: Broker
    url: str
    ca: TestCA
    ca_file: Path
    ca_key: Path


@pytest.fixture
def mtls_broker(tmp_path: Path) -> Iterator[MtlsBroker]:
    """Mosquitto requiring client certificates from the CA, the certificate's CN
    taken as the username (so its log names who connected)."""
    ca = TestCA.create("device CA")
    ca_file, ca_key = ca.write(tmp_path / "pki")
    cert, key = ca.server().write(tmp_path / "pki", "broker")
    port = free_port()
    extra = (f"listener {port} 127.0.0.1\ncafile {ca_file}\ncertfile {cert}\nkeyfile {key}\n"
             "require_certificate true\nuse_identity_as_username true\n")
    (tmp_path / "broker").mkdir()
    with mosquitto(tmp_path / "broker", extra=extra) as broker:
        yield MtlsBroker(broker, f"mqtts://127.0.0.1:{port}", ca, ca_file, ca_key)


def _devices(b: MtlsBroker, out: Path, *args: str) -> MqttRun:
    r = _cli("mqtt-fleet", "--broker", b.url, "--ca-file", str(b.ca_file), "--qos", "1",
             "--results-dir", str(out / "results"), "--summary-export", str(out / "summary.json"),
             "--stats-interval", "1s", *args)
    path = out / "summary.json"
    return MqttRun(r.returncode, r.stdout, r.stderr,
                   json.loads(path.read_text()) if path.exists() else None)


def _connected_as(log: str, run_id: str) -> dict[str, str]:
    """client id -> the username the broker took from its certificate."""
    pattern = re.compile(rf"as (fl-{run_id}-\d+) \([^)]*u'([^']*)'\)")
    return dict(pattern.findall(log))


def test_mqtts_devices_present_minted_identities(mtls_broker, tmp_path):
    b = mtls_broker
    r = _devices(b, tmp_path, "--agents", "6", "--ramp", "3s", "--duration", "4s",
                 "--publish-interval", "1s", "--mint-identities", f"{b.ca_file},{b.ca_key}")
    assert r.code == 0, r.stderr[-3000:]
    mqtt, fleet = r.section("mqtt"), r.section("fleet")
    assert mqtt["connects"]["ok"] == 6 and mqtt["connects"]["refused"] == 0
    assert fleet["identities_minted"] == 6  # the probe borrows the first device's
    assert fleet["identity_mint"]["count"] == 6
    assert r.summary is not None
    assert r.summary["metrics"]["fleet_identities_minted"]["values"]["count"] == 6
    run_id = r.summary["run"]["id"]
    seen = _connected_as(b.broker.log, run_id)
    devices = {f"fl-{run_id}-{i:05d}" for i in range(6)}
    assert {k: v for k, v in seen.items() if k in devices} == {d: d for d in devices}
    assert f"6 mqtt agents (MqttAgent), ramp 3s, heartbeat 1s ±10%, 4s; identities minted from {b.ca_file}" \
        in r.stderr
    live = [line for line in r.stderr.splitlines() if "| minted" in line]
    assert live, r.stderr[-3000:]
    assert re.search(r"\| minted \d identities, \d+\.\d ms each$", live[0]), live[0]


def test_mqtts_devices_present_their_directory_pairs(mtls_broker, tmp_path):
    b = mtls_broker
    d = _identity_dir(tmp_path / "ids", b.ca, ["dev-1", "dev-2", "dev-3", "dev-4"])
    r = _devices(b, tmp_path, "--agents", "4", "--duration", "2s", "--identities", str(d))
    assert r.code == 0, r.stderr[-3000:]
    assert r.section("mqtt")["connects"]["ok"] == 4
    assert r.section("fleet")["identities_minted"] == 0
    assert r.summary is not None
    run_id = r.summary["run"]["id"]
    seen = _connected_as(b.broker.log, run_id)
    assert {seen[f"fl-{run_id}-{i:05d}"] for i in range(4)} == {f"cn-dev-{i}" for i in range(1, 5)}
    assert seen[f"fl-{run_id}-00002"] == "cn-dev-3"


def test_mqtts_devices_with_another_cas_certificates_are_refused(mtls_broker, tmp_path):
    b = mtls_broker
    other = TestCA.create("another CA")
    d = _identity_dir(tmp_path / "ids", other, ["x1", "x2", "x3"])
    r = _devices(b, tmp_path / "run", "--agents", "3", "--duration", "2s", "--identities", str(d),
                 "--skip-probe")
    # No device got through: the run is inconclusive (exit 3), with the reason.
    assert r.code == 3, r.stderr[-3000:]
    conn = r.section("mqtt")["connects"]
    assert conn["ok"] == 0 and conn["refused"] >= 3
    assert conn["refused_by_reason"] == {"tls: TLSV1_ALERT_UNKNOWN_CA": conn["refused"]}
    # with the probe: one line, exit 2, naming the TLS refusal
    r = _devices(b, tmp_path / "probe", "--agents", "3", "--duration", "2s", "--identities", str(d))
    assert r.code == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fleetload: error: mqtt-fleet: cannot connect to the broker at {b.url}: "
                           "[SSL: TLSV1_ALERT_UNKNOWN_CA]"), last
    # and without any client certificate, the broker's own TLS check refuses it
    r = _devices(b, tmp_path / "bare", "--agents", "2", "--duration", "2s")
    assert r.code == 2
    assert "CERTIFICATE_REQUIRED" in r.stderr.strip().splitlines()[-1] or \
        "PEER_DID_NOT_RETURN_A_CERTIFICATE" in r.stderr.strip().splitlines()[-1], r.stderr[-2000:]
