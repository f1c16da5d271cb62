"""A tiny ACME server on 127.0.0.1 for the paths Pebble cannot show: malformed
answers, missing headers, unexpected statuses, problems, badNonce storms,
renewal-info (Pebble 2.4 has no ARI) and EdDSA (Pebble 2.4 refuses it).

It verifies every JWS (signature, nonce, url) like a real server would, marks
authorizations valid at once (no challenge validation: that is Pebble's job in
the other tests) and issues real certificates from a throwaway CA.

``faults`` maps a step (``new-order``, ``authz``, ``finalize``, ``cert``,
``new-account``, ``renewal-info``) to a fault: ``malformed_json``,
``no_location``, ``no_nonce``, ``status_500``, ``problem``, ``bad_nonce_once``,
``bad_nonce_always``; and ``authz`` to ``pending_error`` (authorizations are
pending with an http-01 challenge which, once answered, stays ``pending`` with
an ``error``, as Caddy does) or ``processing_error`` (the same, ``processing``:
a server still retrying). ``contacts`` records each new-account's ``contact``.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jws(body: dict[str, Any], jwk: dict[str, str]) -> None:
    """Raise when the flattened JWS's signature does not verify with ``jwk``."""
    signing_input = f"{body['protected']}.{body['payload']}".encode()
    sig = b64d(body["signature"])
    if jwk["kty"] == "EC":
        nums = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(jwk["x"]), "big"),
                                             int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1())
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        nums.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    elif jwk["kty"] == "RSA":
        pub = rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"),
                                   int.from_bytes(b64d(jwk["n"]), "big")).public_key()
        pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        ed25519.Ed25519PublicKey.from_public_bytes(b64d(jwk["x"])).verify(sig, signing_input)


class FakeAcme:
    def __init__(self) -> None:
        self.faults: dict[str, str] = {}
        self.seen: Counter[str] = Counter()
        self.algs: Counter[str] = Counter()
        self.bad_nonce_sent = 0
        self.contacts: list[Any] = []
        self._answered: set[str] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._nonces: set[str] = set()
        self._accounts: dict[str, dict[str, str]] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        now = datetime.datetime.now(datetime.UTC)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake ACME CA")])
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self.ca_key.public_key()).serial_number(1)
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                       self.ca_key.public_key()), critical=False)
                   .sign(self.ca_key, hashes.SHA256()))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.directory = self.url + "/dir"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- state -------------------------------------------------------------------------
    def new_nonce(self) -> str:
        with self._lock:
            n = f"n{next(self._ids)}x{threading.get_ident() % 1000}"
            self._nonces.add(n)
        return n

    def issue(self, csr_der: bytes) -> bytes:
        csr = x509.load_der_x509_csr(csr_der)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([]))
                .issuer_name(self.ca.subject).public_key(csr.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(san, critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.ca_key.public_key()), critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, self.ca))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def send(self, status: int, body: bytes | dict[str, Any] = b"", *,
                     ctype: str = "application/json", location: str | None = None,
                     nonce: bool = True) -> None:
                data = json.dumps(body).encode() if isinstance(body, dict) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                if nonce:
                    self.send_header("Replay-Nonce", fake.new_nonce())
                if location:
                    self.send_header("Location", fake.url + location)
                self.end_headers()
                self.wfile.write(data)

            def problem(self, status: int, type_: str, detail: str) -> None:
                self.send(status, {"type": f"urn:ietf:params:acme:error:{type_}",
                                   "detail": detail, "status": status},
                          ctype="application/problem+json")

            def do_HEAD(self) -> None:
                self.send(200 if self.path == "/nonce" else 404)

            def do_GET(self) -> None:
                if self.path == "/dir":
                    u = fake.url
                    self.send(200, {"newNonce": u + "/nonce", "newAccount": u + "/acct",
                                    "newOrder": u + "/order", "revokeCert": u + "/revoke",
                                    "renewalInfo": u + "/ari"}, nonce=False)
                elif self.path.startswith("/ari/"):
                    fake.seen["renewal-info"] += 1
                    if fake.faults.get("renewal-info") == "malformed_json":
                        self.send(200, b"{not json", nonce=False)
                        return
                    self.send(200, {"suggestedWindow": {"start": "2030-01-01T00:00:00Z",
                                                        "end": "2030-01-02T00:00:00Z"}},
                              nonce=False)
                else:
                    self.send(404, nonce=False)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                jws = json.loads(raw)
                protected = json.loads(b64d(jws["protected"]))
                url = protected["url"]
                path = url[len(fake.url):]
                step = {"/acct": "new-account", "/order": "new-order", "/revoke": "revoke"}.get(
                    path, path.split("/")[1] if "/" in path[1:] else path[1:])
                fake.seen[step] += 1
                fake.algs[protected["alg"]] += 1
                with fake._lock:
                    nonce_ok = protected["nonce"] in fake._nonces
                    fake._nonces.discard(protected["nonce"])
                fault = fake.faults.get(step)
                # bad_nonce_once: odd requests of the step are refused, so each
                # first try fails and its retry passes (at the tests' low rates).
                if fault == "bad_nonce_always" or (fault == "bad_nonce_once"
                                                   and fake.seen[step] % 2 == 1):
                    fake.bad_nonce_sent += 1
                    self.problem(400, "badNonce", "rejected for the test")
                    return
                if not nonce_ok:
                    self.problem(400, "badNonce", "unknown nonce")
                    return
                jwk = protected.get("jwk") or fake._accounts.get(protected.get("kid", ""))
                if jwk is None:
                    self.problem(400, "accountDoesNotExist", "no such account")
                    return
                try:
                    verify_jws(jws, jwk)
                except Exception:
                    self.problem(400, "malformed", "bad signature")
                    return
                payload = json.loads(b64d(jws["payload"])) if jws["payload"] else None
                if fault == "malformed_json":
                    self.send(201 if step in ("new-order", "new-account") else 200, b"{oops",
                              location="/x")
                elif fault == "no_location":
                    self.send(201, {"status": "pending"})
                elif fault == "no_nonce":
                    self.send(201 if step in ("new-order", "new-account") else 200,
                              {"status": "valid"}, location="/x", nonce=False)
                elif fault == "status_500":
                    self.send(500, b"oops", ctype="text/plain")
                elif fault == "problem":
                    self.problem(429, "rateLimited", "slow down")
                else:
                    self.answer(step, path, payload, jwk)

            def answer(self, step: str, path: str, payload: Any, jwk: dict[str, str]) -> None:
                if step == "new-account":
                    fake.contacts.append(payload.get("contact"))
                    kid = f"{fake.url}/acct/{next(fake._ids)}"
                    fake._accounts[kid] = jwk
                    self.send(201, {"status": "valid"}, location=kid[len(fake.url):])
                elif step == "new-order":
                    oid = str(next(fake._ids))
                    names = [i["value"] for i in payload["identifiers"]]
                    order = {"status": "ready", "identifiers": payload["identifiers"],
                             "authorizations": [f"{fake.url}/authz/{oid}-{i}"
                                                for i in range(len(names))],
                             "finalize": f"{fake.url}/finalize/{oid}"}
                    fake._orders[oid] = order
                    self.send(201, order, location=f"/orders/{oid}")
                elif step == "authz":
                    oid, i = path.split("/")[2].split("-")
                    ident = fake._orders[oid]["identifiers"][int(i)]
                    if fake.faults.get("authz") in ("pending_error", "processing_error"):
                        self.send(200, {"status": "pending", "identifier": ident,
                                        "challenges": [self.challenge(f"{oid}-{i}")]})
                        return
                    self.send(200, {"status": "valid", "identifier": ident, "challenges": []})
                elif step == "chall":
                    key = path.split("/")[2]
                    reply = self.challenge(key)  # as it was when the client answered
                    fake._answered.add(key)
                    self.send(200, reply)
                elif step == "finalize":
                    oid = path.split("/")[2]
                    order = fake._orders[oid]
                    order["pem"] = fake.issue(b64d(payload["csr"]))
                    order.update(status="valid", certificate=f"{fake.url}/cert/{oid}")
                    self.send(200, {k: v for k, v in order.items() if k != "pem"})
                elif step == "cert":
                    self.send(200, fake._orders[path.split("/")[2]]["pem"],
                              ctype="application/pem-certificate-chain")
                elif step == "revoke":
                    self.send(200, b"")
                else:
                    self.problem(404, "malformed", "no such resource")

            def challenge(self, key: str) -> dict[str, Any]:
                chall: dict[str, Any] = {"type": "http-01", "status": "pending",
                                         "token": f"token-{key}",
                                         "url": f"{fake.url}/chall/{key}"}
                if key in fake._answered:
                    if fake.faults.get("authz") == "processing_error":
                        chall["status"] = "processing"
                    chall["error"] = {"type": "urn:ietf:params:acme:error:connection",
                                      "detail": "could not connect to the fake's validation "
                                                "target"}
                return chall

        return Handler
