"""acme-enroll against acme2certifier (OpenSSL CA handler, SQLite): its account
policy (a contact is required) reported as the RFC 7807 problem it sends, then
real http-01 enrollments with renewal-info (ARI), which its directory offers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from fleetplane import launch
from tests.peers.acme2certifier import Acme2Certifier, missing
from tests.protocols.acme.conftest import run_pack
from tests.protocols.acme.loopback_dns import CHALLTESTSRV, LoopbackDns

_MISSING = missing() or (None if CHALLTESTSRV else "pebble-challtestsrv not installed "
                                                    "(apt install pebble)")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

MALFORMED = "urn:ietf:params:acme:error:malformed"
CONTACT = "mailto:pki-ops@fleetload.test"


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDns]:
    with LoopbackDns() as server:
        yield server


@pytest.fixture(scope="module")
def a2c(dns: LoopbackDns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Acme2Certifier]:
    with Acme2Certifier(tmp_path_factory.mktemp("a2c"), dns) as server:
        yield server


def test_account_without_contact_is_its_problem(a2c: Acme2Certifier, dns: LoopbackDns,
                                                tmp_path: Path) -> None:
    run = run_pack(tmp_path, "--directory", a2c.directory, "--http01-listen",
                   dns.http01_listen, "--rate", "3", "--duration", "1s")
    assert run.result.code == 99  # the failed-share threshold
    assert run.rate("acme_enrollment_failed") == 1.0
    assert run.acme["problems"] == {MALFORMED: 3.0}
    assert run.acme["problem_details"] == [
        {"step": "new-account", "type": MALFORMED, "detail": "Contact information is missing",
         "count": 3.0}]
    assert run.acme["protocol_errors"] == {}
    assert f"problem {MALFORMED}: 3" in run.result.stdout
    assert "3 at new-account: Contact information is missing" in run.result.stdout


def test_enrollments_with_contact_and_renewal_info(a2c: Acme2Certifier, dns: LoopbackDns,
                                                    tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    ari_before = len(a2c.requests_to("/acme/renewal-info/"))
    run = run_pack(tmp_path, "--directory", a2c.directory, "--http01-listen",
                   dns.http01_listen, "--contact", CONTACT, "--ari", "--rate", "3",
                   "--duration", "3s", "--max-names", "2", "--max-accounts", "3",
                   "--save-certs", str(certs))
    assert run.result.code == 0, run.result.stdout + run.result.stderr
    assert run.count("acme_enrollments") == 9
    assert run.rate("acme_enrollment_failed") == 0.0
    assert run.acme["problems"] == {} and run.acme["protocol_errors"] == {}
    # one renewal-info GET per certificate, each answered 200 with a window
    ari = a2c.requests_to("/acme/renewal-info/")[ari_before:]
    assert len(ari) == 9 and all('" 200 ' in line for line in ari)
    assert run.summary["metrics"]["acme_ari"]["values"]["max"] > 0
    ca = x509.load_pem_x509_certificate(a2c.ca_file.read_bytes())
    metas = sorted(certs.glob("*.json"))
    assert len(metas) == 9
    for meta in metas:
        leaf = x509.load_pem_x509_certificates(meta.with_suffix(".pem").read_bytes())[0]
        leaf.verify_directly_issued_by(ca)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(
            json.loads(meta.read_text())["names"])


def test_failed_validation_is_invalid_without_an_error(a2c: Acme2Certifier, dns: LoopbackDns,
                                                       tmp_path: Path) -> None:
    # Nothing answers on port 80 of the names' address. acme2certifier marks the
    # challenge and the authorization invalid and gives no error (the member is
    # optional in RFC 8555): counted as such, not as a poll timeout.
    elsewhere = f"{dns.ip}:{launch.free_port(dns.ip)}"
    run = run_pack(tmp_path, "--directory", a2c.directory, "--http01-listen", elsewhere,
                   "--contact", CONTACT, "--rate", "2", "--duration", "1s")
    assert run.rate("acme_enrollment_failed") == 1.0
    assert run.acme["problems"] == {}
    assert run.acme["protocol_errors"] == {"challenge: invalid without error": 2.0}
