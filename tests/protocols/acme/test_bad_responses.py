"""The pack against a fake ACME server that misbehaves: every deviation is a
counted protocol error or problem, the iteration fails, the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from tests.conftest import run_cli
from tests.protocols.acme.conftest import run_pack
from tests.protocols.acme.fakeacme import FakeAcme
from tests.protocols.acme.pebble import free_port


def _args(fake: FakeAcme, *extra: str) -> list[str]:
    return ["--directory", fake.directory, "--rate", "4", "--duration", "1s",
            "--max-accounts", "2", *extra]


def test_happy_path_with_ari_revoke_and_eddsa(fake_acme: FakeAcme, tmp_path: Path) -> None:
    run = run_pack(tmp_path, *_args(fake_acme, "--ari", "--revoke-chance", "1", "--max-names",
                                    "3", "--key-type", "ed25519", "--save-certs",
                                    str(tmp_path / "certs")))
    assert run.result.code == 0, run.result.stdout
    assert run.count("acme_enrollments") == 4
    assert fake_acme.seen["renewal-info"] == 4 and fake_acme.seen["revoke"] == 4
    assert set(fake_acme.algs) == {"EdDSA"}  # and the fake verified every signature
    assert run.summary["metrics"]["acme_ari"]["values"]["max"] > 0
    for meta in (tmp_path / "certs").glob("*.json"):
        leaf = x509.load_pem_x509_certificates(meta.with_suffix(".pem").read_bytes())[0]
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert set(san.get_values_for_type(x509.DNSName)) == set(json.loads(meta.read_text())["names"])
    signing = run.acme["signing"]
    assert signing["signatures"] > 0 and signing["per_enrollment_ms"] > 0


@pytest.mark.parametrize("step,fault,detail", [
    ("new-order", "malformed_json", "new-order: malformed JSON"),
    ("new-order", "no_location", "new-order: missing Location"),
    ("authz", "no_nonce", "authz: missing Replay-Nonce"),
    ("finalize", "status_500", "finalize: unexpected status 500"),
    ("cert", "malformed_json", "cert: malformed chain"),
    ("renewal-info", "malformed_json", "renewal-info: malformed JSON"),
])
def test_protocol_errors_are_counted_and_fail_the_iteration(
        fake_acme: FakeAcme, tmp_path: Path, step: str, fault: str, detail: str) -> None:
    fake_acme.faults[step] = fault
    run = run_pack(tmp_path, *_args(fake_acme, "--ari"))
    assert run.result.code == 99  # thresholds failed, the run itself completed
    assert run.acme["protocol_errors"] == {detail: 4.0}
    assert run.rate("acme_enrollment_failed") == 1.0
    assert run.count("iteration_errors") == 4 and run.count("iterations") == 4


def test_problems_are_counted_by_type(fake_acme: FakeAcme, tmp_path: Path) -> None:
    fake_acme.faults["new-order"] = "problem"
    run = run_pack(tmp_path, *_args(fake_acme))
    assert run.acme["problems"] == {"urn:ietf:params:acme:error:rateLimited": 4.0}
    assert run.acme["protocol_errors"] == {}
    assert run.rate("acme_enrollment_failed") == 1.0


def test_bad_nonce_is_retried_and_counted_as_retries(fake_acme: FakeAcme,
                                                    tmp_path: Path) -> None:
    fake_acme.faults["new-order"] = "bad_nonce_once"
    run = run_pack(tmp_path, *_args(fake_acme))
    assert run.result.code == 0, run.result.stdout
    assert run.count("acme_enrollments") == 4
    assert run.acme["bad_nonce_retries"] == 4.0
    assert run.acme["problems"] == {}  # absorbed by the retry: not a failure


@pytest.mark.parametrize("retries", [None, "0", "2"])
def test_bad_nonce_retries_are_bounded(fake_acme: FakeAcme, tmp_path: Path,
                                       retries: str | None) -> None:
    fake_acme.faults["new-order"] = "bad_nonce_always"
    extra = ("--bad-nonce-retries", retries) if retries is not None else ()
    run = run_pack(tmp_path, *_args(fake_acme, *extra))
    n = 5 if retries is None else int(retries)  # 5 by default
    assert run.rate("acme_enrollment_failed") == 1.0
    assert fake_acme.bad_nonce_sent == 4 * (1 + n)
    assert run.acme["bad_nonce_retries"] == 4.0 * n
    assert run.acme["problems"] == {"urn:ietf:params:acme:error:badNonce": 4.0}
    assert run.acme["problem_details"] == [
        {"step": "new-order", "type": "urn:ietf:params:acme:error:badNonce",
         "detail": "rejected for the test", "count": 4.0}]


def test_contact_is_sent_in_new_account(fake_acme: FakeAcme, tmp_path: Path) -> None:
    run = run_pack(tmp_path, *_args(fake_acme, "--contact", "mailto:ops@fleetload.test,"
                                    "mailto:oncall@fleetload.test", "--contact",
                                    "mailto:pki@fleetload.test"))
    assert run.result.code == 0, run.result.stdout
    assert fake_acme.contacts and all(c == ["mailto:ops@fleetload.test",
                                            "mailto:oncall@fleetload.test",
                                            "mailto:pki@fleetload.test"]
                                      for c in fake_acme.contacts)


def test_no_contact_sends_none(fake_acme: FakeAcme, tmp_path: Path) -> None:
    run = run_pack(tmp_path, *_args(fake_acme))
    assert run.result.code == 0, run.result.stdout
    assert fake_acme.contacts and set(map(repr, fake_acme.contacts)) == {"None"}


def test_a_contact_that_is_not_a_uri_is_refused(tmp_path: Path) -> None:
    r = run_cli("run", "acme-enroll", "--directory", "http://127.0.0.1:1/dir", "--contact",
                "ops@fleetload.test", "--out", str(tmp_path / "r"))
    assert r.code == 2
    assert ("--contact: expected a URI such as mailto:ops@example.com, got "
            "'ops@fleetload.test'") in r.stderr
    assert "Traceback" not in r.stderr


def test_pending_challenge_with_error_is_its_problem(fake_acme: FakeAcme,
                                                     tmp_path: Path) -> None:
    # Caddy's way: the answered challenge stays pending and carries the error.
    fake_acme.faults["authz"] = "pending_error"
    run = run_pack(tmp_path, *_args(fake_acme, "--poll-timeout", "60s", "--http01-listen",
                                    f"127.0.0.1:{free_port()}"))
    assert run.rate("acme_enrollment_failed") == 1.0
    assert run.acme["protocol_errors"] == {}
    assert run.acme["problems"] == {"urn:ietf:params:acme:error:connection": 4.0}
    assert run.acme["problem_details"] == [
        {"step": "challenge", "type": "urn:ietf:params:acme:error:connection",
         "detail": "could not connect to the fake's validation target", "count": 4.0}]
    assert fake_acme.seen["authz"] == 8  # one fetch and one poll each: no waiting


def test_processing_challenge_with_error_is_polled_on(fake_acme: FakeAcme,
                                                      tmp_path: Path) -> None:
    # RFC 8555 8.2: processing + error is a server still retrying: keep polling.
    fake_acme.faults["authz"] = "processing_error"
    run = run_pack(tmp_path, *_args(fake_acme, "--poll-timeout", "1s", "--http01-listen",
                                    f"127.0.0.1:{free_port()}"))
    assert run.acme["problems"] == {}
    assert run.acme["protocol_errors"] == {"authz poll: poll timeout": 4.0}


def test_unreachable_directory_is_a_protocol_error(tmp_path: Path) -> None:
    run = run_pack(tmp_path, "--directory", f"http://127.0.0.1:{free_port()}/dir",
                   "--rate", "2", "--duration", "1s")
    assert run.acme["protocol_errors"] == {"directory: connection_refused": 2.0}


def test_bad_parameters_are_config_errors(tmp_path: Path) -> None:
    r = run_cli("run", "acme-enroll", "--directory", "http://x/dir", "--key-type", "dsa",
                "--out", str(tmp_path / "r"))
    assert r.code == 2 and "--key-type" in r.stderr
