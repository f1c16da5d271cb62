"""End to end against Pebble: real JWS checks, real http-01 / tls-alpn-01
validation of the in-process responders, real certificates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.conftest import run_cli
from tests.protocols.acme.conftest import PebbleSetup, needs_pebble, run_pack

pytestmark = needs_pebble


def _check_saved_chains(directory: Path, root_pem: bytes) -> int:
    """Every saved chain parses, links up to Pebble's root, and its leaf
    carries exactly the names that were ordered."""
    root = x509.load_pem_x509_certificate(root_pem)
    files = sorted(directory.glob("*.json"))
    for meta in files:
        chain = x509.load_pem_x509_certificates(meta.with_suffix(".pem").read_bytes())
        for child, parent in zip(chain, [*chain[1:], root], strict=True):
            child.verify_directly_issued_by(parent)
        san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(
            json.loads(meta.read_text())["names"])
    return len(files)


@pytest.mark.parametrize("challenge,key_type", [
    ("http-01", "ec"), ("tls-alpn-01", "ec"), ("http-01", "rsa")])
def test_enrollments_issue_certificates(pebble: PebbleSetup, tmp_path: Path, challenge: str,
                                        key_type: str) -> None:
    certs = tmp_path / "certs"
    run = run_pack(tmp_path, *pebble.args(), "--rate", "2", "--duration", "3s",
                   "--challenge", challenge, "--key-type", key_type, "--max-names", "3",
                   "--max-accounts", "3", "--revoke-chance", "0.5", "--save-certs", str(certs))
    assert run.result.code == 0, run.result.stdout + run.result.stderr
    assert run.count("acme_enrollments") == 6
    assert _check_saved_chains(certs, pebble.pebble.root_pem()) == 6
    for step in ("new_order", "authz", "challenge", "finalize", "cert_download"):
        assert run.summary["metrics"][f"acme_{step}"]["values"]["max"] > 0
    reqs = {k for k in run.summary["metrics"] if k.startswith("acme_")}
    assert "acme_enrollment_duration" in reqs
    alg = "RS256" if key_type == "rsa" else "ES256"
    assert run.acme["signing"]["signatures"] > 6 * 8, alg


def test_key_per_order(pebble: PebbleSetup, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    run = run_pack(tmp_path, *pebble.args(), "--rate", "3", "--duration", "1s",
                   "--key-per-order", "--save-certs", str(certs))
    assert run.result.code == 0, run.result.stdout
    keys = {x509.load_pem_x509_certificates(p.read_bytes())[0].public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            for p in certs.glob("*.pem")}
    assert len(keys) == 3


def test_pebble_refuses_eddsa_and_it_is_counted(pebble: PebbleSetup, tmp_path: Path) -> None:
    # Pebble 2.4 accepts RS256 and ES256/384/512 only: EdDSA is a counted problem.
    run = run_pack(tmp_path, *pebble.args(), "--rate", "2", "--duration", "1s",
                   "--key-type", "ed25519")
    assert run.rate("acme_enrollment_failed") == 1.0
    assert run.acme["problems"] == {"urn:ietf:params:acme:error:badPublicKey": 2.0}


def test_defaults_pass_against_pebbles_default_nonce_rejection(pebble: PebbleSetup,
                                                               tmp_path: Path) -> None:
    # Pebble refuses 5 % of valid nonces by default. One retry left 1-3 % of
    # enrollments failed (~10 signed POSTs each): over the pack's own threshold.
    run = run_pack(tmp_path, *pebble.args(), "--rate", "20", "--duration", "6s", timeout=150)
    assert run.result.code == 0, run.result.stdout + run.result.stderr
    assert run.count("iterations") == 120
    assert run.count("acme_enrollments") == 120
    assert run.rate("acme_enrollment_failed") < 0.01
    assert run.acme["bad_nonce_retries"] > 0  # Pebble did refuse nonces; all absorbed
    assert run.acme["problems"] == {}
    assert "acme_enrollment_failed" in run.result.stdout and "✓" in run.result.stdout


@pytest.mark.parametrize("pebble_nonce_reject,retries,rate,max_failed", [
    # 30 %, retried 6 times: 0.3^7 per request, ~0.2 % per enrollment.
    (30, 6, 6, 0.05),
], indirect=["pebble_nonce_reject"])
def test_bad_nonce_retry_keeps_enrollments_passing(pebble_nonce_reject: PebbleSetup,
                                                   tmp_path: Path, retries: int, rate: int,
                                                   max_failed: float) -> None:
    run = run_pack(tmp_path, *pebble_nonce_reject.args(), "--rate", str(rate), "--duration",
                   "5s", "--bad-nonce-retries", str(retries), "--max-failed", str(max_failed))
    failed = run.summary["metrics"]["acme_enrollment_failed"]["values"]["rate"]
    assert run.count("iterations") >= 20
    assert failed <= max_failed, run.result.stdout
    assert run.acme["bad_nonce_retries"] > 3
    assert run.summary["metrics"]["acme_bad_nonce_retries"]["values"]["count"] == \
        run.acme["bad_nonce_retries"]


def test_more_than_one_worker_is_refused(pebble: PebbleSetup, tmp_path: Path) -> None:
    out = tmp_path / "refused"
    r = run_cli("run", "acme-enroll", *pebble.args(), "--rate", "2", "--duration", "1s",
                "--workers", "2", "--out", str(out), "--quiet", "--no-preflight")
    assert r.code == 2
    assert "at most 1 worker" in r.stderr and "--workers 2" in r.stderr
    assert not (out / "summary.json").exists()
