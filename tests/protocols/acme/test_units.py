"""Unit tests of the pieces that need no server: JWS, thumbprints, ARI ids,
nonce pool, Retry-After, problem parsing, tls-alpn-01 certificates."""

from __future__ import annotations

import datetime
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetload.errors import ConfigError
from fleetload.metrics.collector import Collector
from fleetload.metrics.scope import WorkerScope, current_scope
from fleetload.protocols.acme.client import Directory, retry_after
from fleetload.protocols.acme.csr import ari_cert_id, make_csr, new_cert_key
from fleetload.protocols.acme.flow import challenge_failure, parse_contacts
from fleetload.protocols.acme.jws import AccountKey, b64, b64_decode, thumbprint
from fleetload.protocols.acme.metrics import MAX_DETAILS, OTHER_DETAIL, AcmeMetrics
from fleetload.protocols.acme.nonces import NoncePool
from fleetload.protocols.acme.problems import Problem, ProtocolError, parse_problem
from fleetload.protocols.acme.responders import ACME_IDENTIFIER_OID, alpn_certificate
from fleetload.protocols.http import Headers, Response
from tests.protocols.acme.fakeacme import verify_jws


@pytest.mark.parametrize("kind,alg", [("ec", "ES256"), ("rsa", "RS256"), ("ed25519", "EdDSA")])
def test_jws_verifies_and_uses_jwk_then_kid(kind: str, alg: str) -> None:
    key = AccountKey.generate(kind)
    body, spent = key.sign("https://ca/new-acct", "n1", {"termsOfServiceAgreed": True})
    jws = json.loads(body)
    protected = json.loads(b64_decode(jws["protected"]))
    assert protected == {"alg": alg, "nonce": "n1", "url": "https://ca/new-acct", "jwk": key.jwk}
    verify_jws(jws, key.jwk)
    assert spent > 0
    key.kid = "https://ca/acct/1"
    jws = json.loads(key.sign("https://ca/authz/1", "n2", None)[0])
    protected = json.loads(b64_decode(jws["protected"]))
    assert protected["kid"] == "https://ca/acct/1" and "jwk" not in protected
    assert jws["payload"] == ""  # POST-as-GET
    verify_jws(jws, key.jwk)


def test_thumbprint_rfc7638_example() -> None:
    jwk = {"kty": "RSA", "e": "AQAB", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
        "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
        "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
        "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
        "Cur-kEgU8awapJzKnqDKgw")}
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ari_cert_id_rfc9773_example() -> None:
    # RFC 9773 section 4.1: AKI 69:88:5B:..., serial 00:87:65:43:21
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
            .public_key(key.public_key()).serial_number(0x87654321)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
            .sign(key, hashes.SHA256()))
    assert ari_cert_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_csr_carries_the_names() -> None:
    csr = x509.load_der_x509_csr(make_csr(["a.test", "b.test"], new_cert_key()))
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.test", "b.test"]
    assert csr.is_signature_valid


def test_nonce_pool_is_lifo_and_bounded() -> None:
    pool = NoncePool(capacity=3)
    assert pool.take() is None
    for n in ("a", "b", "c", "d", None, ""):
        pool.add(n)
    assert len(pool) == 3 and pool.take() == "d" and pool.take() == "c"


def _resp(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
    return Response(status=status, headers=Headers(headers or {}), body=body)


def test_retry_after_seconds_and_date() -> None:
    assert retry_after(_resp(headers={"Retry-After": "3"})) == 3.0
    assert retry_after(_resp()) is None
    assert retry_after(_resp(headers={"Retry-After": "soon"})) is None
    date = "Wed, 21 Oct 2015 07:28:10 GMT"
    base = datetime.datetime(2015, 10, 21, 7, 28, 0, tzinfo=datetime.UTC).timestamp()
    assert retry_after(_resp(headers={"Retry-After": date}), now=base) == pytest.approx(10.0)


def test_problem_parsing() -> None:
    p = parse_problem(_resp(400, body=json.dumps({
        "type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "no",
        "subproblems": [{"type": "urn:ietf:params:acme:error:caa", "detail": "x"}]}).encode()))
    assert p is not None and p.type.endswith("rejectedIdentifier") and p.status == 400
    assert p.subproblems[0].type.endswith(":caa")
    assert parse_problem(_resp(500, body=b"<html>")) is None
    assert parse_problem(_resp(400, body=b'{"detail": "no type"}')) is None


def test_directory_requires_core_urls() -> None:
    with pytest.raises(ProtocolError, match="missing newOrder"):
        Directory.parse({"newNonce": "u", "newAccount": "u"})
    d = Directory.parse({"newNonce": "n", "newAccount": "a", "newOrder": "o",
                         "renewalInfo": "r"})
    assert d.renewal_info == "r" and d.revoke_cert is None


def test_tls_alpn_certificate_rfc8737() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = alpn_certificate("x.test", "tok.thumb", key)
    ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert ext.critical and isinstance(ext.value, x509.UnrecognizedExtension)
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(b"tok.thumb").digest()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["x.test"]
    assert b64(b"\xff") == "_w"


def test_contacts_repeatable_and_comma_separated() -> None:
    assert parse_contacts(None) == ()
    assert parse_contacts(["mailto:a@x.test, mailto:b@x.test", "mailto:c@x.test", " , "]) == (
        "mailto:a@x.test", "mailto:b@x.test", "mailto:c@x.test")
    with pytest.raises(ConfigError, match=r"--contact: expected a URI .* got 'a@x.test'"):
        parse_contacts(["a@x.test"])


ERR = {"type": "urn:ietf:params:acme:error:connection", "detail": "no"}


@pytest.mark.parametrize("challenges,expected", [
    ([{"type": "http-01", "status": "pending"}], None),
    ([{"type": "http-01", "status": "pending", "error": ERR}], ERR),  # Caddy, connection
    ([{"type": "http-01", "status": "invalid", "error": ERR}], ERR),  # Caddy, wrong content
    ([{"type": "http-01", "status": "processing", "error": ERR}], None),  # still retrying
    ([{"type": "dns-01", "status": "invalid", "error": {"type": "other"}},
      {"type": "http-01", "status": "invalid", "error": ERR}], ERR),  # the answered one first
    ([{"type": "http-01", "status": "invalid"}], None),  # acme2certifier: no error given
])
def test_challenge_failure(challenges: list[dict[str, object]], expected: object) -> None:
    assert challenge_failure({"status": "pending", "challenges": challenges},
                             "http-01") == expected


def test_problem_details_are_counted_and_bounded() -> None:
    collector = Collector()
    token = current_scope.set(WorkerScope(collector))
    try:
        m = AcmeMetrics.declare()
        m.problem("challenge", Problem("urn:x:a", "same  detail\n"))
        m.problem("challenge", Problem("urn:x:a", "same detail"))
        for i in range(MAX_DETAILS + 5):
            m.problem("new-order", Problem("urn:x:b", f"name n{i}.test refused"))
    finally:
        current_scope.reset(token)
    details = {dict(tags)["detail"]: n for (name, tags), n in collector.counters.items()
               if name == "acme_problem_details"}
    assert details["same detail"] == 2.0  # whitespace folded
    assert details[OTHER_DETAIL] == 6.0  # 1 + 19 kept, 6 folded
    assert len(details) == MAX_DETAILS + 1
    types = {dict(tags)["type"]: n for (name, tags), n in collector.counters.items()
             if name == "acme_problems"}
    assert types == {"urn:x:a": 2.0, "urn:x:b": MAX_DETAILS + 5.0}
