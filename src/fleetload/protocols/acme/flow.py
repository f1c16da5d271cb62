"""One certificate enrollment as one iteration: account, order, authorizations,
challenges, finalize, download, then optionally revoke and renewal-info.

Per-worker state (directory cache, nonce pool, account pool, certificate key,
responders) lives in :class:`Enrollment`, rebuilt when the event loop changes
(a new run in the same process) because asyncio servers and locks belong to
the loop that made them.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fleetload.errors import ConfigError
from fleetload.protocols.acme.client import (
    DEFAULT_BAD_NONCE_RETRIES,
    PEM_CHAIN,
    AcmeClient,
    Directory,
    json_object,
    location,
)
from fleetload.protocols.acme.csr import (
    CertKey,
    ari_cert_id,
    cert_der,
    dns_names,
    make_csr,
    new_cert_key,
    parse_chain,
)
from fleetload.protocols.acme.jws import KEY_TYPES, AccountKey, b64
from fleetload.protocols.acme.metrics import AcmeMetrics
from fleetload.protocols.acme.problems import AcmeError, ProtocolError, problem_from_object
from fleetload.protocols.acme.responders import Responders, parse_listen
from fleetload.protocols.http.session import RecordingSession

CHALLENGES = ("http-01", "tls-alpn-01")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def parse_contacts(values: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``--contact`` values (repeatable, each possibly comma separated) as the
    URIs of new-account's ``contact``; ConfigError on anything not a URI."""
    out: list[str] = []
    for value in values or ():
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if not _URI.fullmatch(item):
                raise ConfigError(f"--contact: expected a URI such as mailto:ops@example.com, "
                                  f"got {item!r}")
            out.append(item)
    return tuple(out)


def challenge_failure(authz: dict[str, Any], challenge: str) -> Any:
    """The ``error`` of a challenge that failed for good, or None.

    RFC 8555 8.2: a server still retrying keeps the challenge ``processing``
    (an ``error`` there is the last attempt's). Pebble marks a failed challenge
    ``invalid``; Caddy (smallstep) leaves it ``pending`` with the ``error`` and
    waits for the client, so polling on would only end in a poll timeout. The
    answered challenge's error comes first, then any other's.
    """
    failed = [c for c in authz.get("challenges") or ()
              if isinstance(c, dict) and c.get("error") and c.get("status") != "processing"]
    failed.sort(key=lambda c: c.get("type") != challenge)
    return failed[0]["error"] if failed else None


class EnrollingVU(Protocol):
    """What an enrollment needs of the VU running it (``fleetload.VU``)."""

    @property
    def http(self) -> RecordingSession: ...

    @property
    def rng(self) -> random.Random: ...

    @property
    def worker_count(self) -> int: ...

    def unique(self, prefix: str = "") -> str: ...


@dataclass(frozen=True)
class EnrollmentConfig:
    directory: str
    key_type: str = "ec"
    max_accounts: int = 100
    max_names: int = 1
    domain_base: str = "fleetload.test"
    challenge: str = "http-01"
    http01_listen: str = "127.0.0.1:5002"
    tls_alpn_listen: str = "127.0.0.1:5001"
    key_per_order: bool = False
    revoke_chance: float = 0.0
    ari: bool = False
    poll_interval: float = 0.05
    poll_cap: float = 10.0
    poll_timeout: float = 60.0
    save_certs: str | None = None
    bad_nonce_retries: int = DEFAULT_BAD_NONCE_RETRIES
    contact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.key_type not in KEY_TYPES:
            raise ConfigError(f"--key-type: expected one of {', '.join(KEY_TYPES)}, "
                              f"got {self.key_type!r}")
        if self.challenge not in CHALLENGES:
            raise ConfigError(f"--challenge: expected one of {', '.join(CHALLENGES)}, "
                              f"got {self.challenge!r}")
        if self.max_accounts < 0 or self.max_names < 1 or self.bad_nonce_retries < 0:
            raise ConfigError("--max-accounts and --bad-nonce-retries must be >= 0, "
                              "--max-names >= 1")
        if not 0.0 <= self.revoke_chance <= 1.0:
            raise ConfigError(f"--revoke-chance must be within 0..1, got {self.revoke_chance}")
        for flag, value in (("--http01-listen", self.http01_listen),
                            ("--tls-alpn-listen", self.tls_alpn_listen)):
            try:
                parse_listen(value)
            except ValueError as exc:
                raise ConfigError(f"{flag}: {exc}") from None
        if not self.directory.startswith(("http://", "https://")):
            raise ConfigError(f"--directory: expected an http(s) URL, got {self.directory!r}")


class _WorkerState:
    def __init__(self, cfg: EnrollmentConfig, metrics: AcmeMetrics) -> None:
        self.loop = asyncio.get_running_loop()
        self.client = AcmeClient(cfg.directory, metrics, bad_nonce_retries=cfg.bad_nonce_retries)
        self.accounts: dict[int, AccountKey] = {}
        self.cert_key: CertKey | None = None
        self.responders = Responders(cfg.http01_listen, cfg.tls_alpn_listen)


class Enrollment:
    """The enrollment flow; ``await enrollment.run(vu)`` is one iteration."""

    def __init__(self, cfg: EnrollmentConfig, metrics: AcmeMetrics) -> None:
        self.cfg = cfg
        self.m = metrics
        self._state: _WorkerState | None = None
        if cfg.save_certs:
            Path(cfg.save_certs).mkdir(parents=True, exist_ok=True)

    def state(self) -> _WorkerState:
        st = self._state
        if st is None or st.loop is not asyncio.get_running_loop():
            st = self._state = _WorkerState(self.cfg, self.m)
        return st

    async def close(self) -> None:
        """Stop the responders (from the script's teardown, same process and loop)."""
        st = self._state
        if st is not None and st.loop is asyncio.get_running_loop():
            await st.responders.close()
        self._state = None

    async def run(self, vu: EnrollingVU) -> None:
        # Responders bind one port per host: a second worker could neither bind
        # it nor answer for the first one's tokens (see docs/acme.md).
        if vu.worker_count != 1:
            raise ConfigError("acme-enroll runs with --workers 1: the challenge responders "
                              "listen on one port per host")
        t0 = time.perf_counter()
        try:
            await self._enroll(vu, self.state())
        except AcmeError as exc:
            if isinstance(exc, ProtocolError):
                self.m.protocol_error(exc.detail)
            self.m.failed.add(True)
            raise
        except Exception:
            self.m.failed.add(True)
            raise
        self.m.failed.add(False)
        self.m.enrollments.add(1)
        self.m.enrollment.add((time.perf_counter() - t0) * 1000.0)

    # -- the steps ------------------------------------------------------------------
    def _timed(self, step: str, since: float) -> float:
        now = time.perf_counter()
        self.m.steps[step].add((now - since) * 1000.0)
        return now

    async def _account(self, vu: EnrollingVU, st: _WorkerState, d: Directory) -> AccountKey:
        cfg = self.cfg
        slot = vu.rng.randrange(cfg.max_accounts) if cfg.max_accounts else -1
        acct = st.accounts.get(slot)
        if acct is not None:
            return acct
        t = time.perf_counter()
        key = AccountKey.generate(cfg.key_type)
        payload: dict[str, Any] = {"termsOfServiceAgreed": True}
        if cfg.contact:
            payload["contact"] = list(cfg.contact)
        resp = await st.client.post(vu.http, d.new_account, payload, key, step="new-account",
                                    expect=(200, 201), use_jwk=True)
        key.kid = location(resp, "new-account")
        json_object(resp, "new-account")
        if slot >= 0:
            st.accounts[slot] = key
        self._timed("new_account", t)
        return key

    async def _enroll(self, vu: EnrollingVU, st: _WorkerState) -> None:
        cfg, client, http = self.cfg, st.client, vu.http
        d = await client.directory(http)
        acct = await self._account(vu, st, d)
        names = [f"{vu.rng.getrandbits(64):016x}.{cfg.domain_base}"
                 for _ in range(vu.rng.randint(1, cfg.max_names))]

        t = time.perf_counter()
        resp = await client.post(http, d.new_order, {"identifiers": [
            {"type": "dns", "value": n} for n in names]}, acct, step="new-order", expect=(201,))
        order_url = location(resp, "new-order")
        order = json_object(resp, "new-order")
        authz_urls = order.get("authorizations")
        finalize_url = order.get("finalize")
        if (not isinstance(authz_urls, list) or not authz_urls
                or not all(isinstance(u, str) for u in authz_urls)
                or not isinstance(finalize_url, str)):
            raise ProtocolError("new-order", "no authorizations or finalize")
        t = self._timed("new_order", t)

        authzs = await asyncio.gather(*(self._fetch_authz(http, client, u, acct)
                                        for u in authz_urls))
        t = self._timed("authz", t)
        if any(a.get("status") != "valid" for a in authzs):
            await st.responders.ensure(cfg.challenge)
        await asyncio.gather(*(self._answer(http, st, u, a, acct)
                               for u, a in zip(authz_urls, authzs, strict=True)))
        t = self._timed("challenge", t)

        key = st.cert_key
        if key is None or cfg.key_per_order:
            key = new_cert_key()
            if not cfg.key_per_order:
                st.cert_key = key
        resp = await client.post(http, finalize_url, {"csr": b64(make_csr(names, key))}, acct,
                                 step="finalize")
        order = json_object(resp, "finalize")
        if order.get("status") != "valid":
            order = await client.poll(http, order_url, acct, step="order poll", done=("valid",),
                                      timeout=cfg.poll_timeout, interval=cfg.poll_interval,
                                      cap=cfg.poll_cap)
        if order.get("status") == "invalid":
            raise self._invalid(client, "finalize", order.get("error"))
        cert_url = order.get("certificate")
        if not isinstance(cert_url, str):
            raise ProtocolError("finalize", "valid order without certificate")
        t = self._timed("finalize", t)

        resp = await client.post(http, cert_url, None, acct, step="cert", accept=PEM_CHAIN)
        try:
            chain = parse_chain(resp.body)
        except ValueError:
            raise ProtocolError("cert", "malformed chain") from None
        if dns_names(chain[0]) != set(names):
            raise ProtocolError("cert", "names mismatch")
        if cfg.save_certs:
            stem = Path(cfg.save_certs) / vu.unique("cert-")
            stem.with_suffix(".pem").write_bytes(resp.body)
            stem.with_suffix(".json").write_text(json.dumps({"names": names}))
        t = self._timed("cert_download", t)

        if cfg.revoke_chance and d.revoke_cert and vu.rng.random() < cfg.revoke_chance:
            await client.post(http, d.revoke_cert, {"certificate": b64(cert_der(chain[0]))},
                              acct, step="revoke")
            t = self._timed("revoke", t)
        if cfg.ari and d.renewal_info:
            await self._renewal_info(http, client, d.renewal_info, chain[0])
            self._timed("ari", t)

    async def _fetch_authz(self, http: RecordingSession, client: AcmeClient, url: str,
                           acct: AccountKey) -> dict[str, Any]:
        return json_object(await client.post(http, url, None, acct, step="authz"), "authz")

    async def _answer(self, http: RecordingSession, st: _WorkerState, url: str,
                      authz: dict[str, Any], acct: AccountKey) -> None:
        cfg, client = self.cfg, st.client
        if authz.get("status") == "valid":
            return  # reused authorization (RFC 8555 7.1.3): nothing to prove
        ident = authz.get("identifier")
        name = ident.get("value") if isinstance(ident, dict) else None
        chall = next((c for c in authz.get("challenges") or () if isinstance(c, dict)
                      and c.get("type") == cfg.challenge), None)
        if (chall is None or not isinstance(name, str) or not isinstance(chall.get("token"), str)
                or not isinstance(chall.get("url"), str)):
            raise ProtocolError("authz", f"no usable {cfg.challenge} challenge")
        token = chall["token"]
        st.responders.add(cfg.challenge, name, token, acct.key_authorization(token))
        try:
            resp = await client.post(http, chall["url"], {}, acct, step="challenge")
            try:  # RFC 8555 7.5.1: the challenge object (not every server sends it)
                answered = resp.json()
            except ValueError:
                answered = None
            error = challenge_failure({"challenges": [answered]}, cfg.challenge)
            if error is not None:  # validated at once, and failed
                raise self._invalid(client, "challenge", error)
            authz = await client.poll(
                http, url, acct, step="authz poll", done=("valid",),
                timeout=cfg.poll_timeout, interval=cfg.poll_interval, cap=cfg.poll_cap,
                settled=lambda a: challenge_failure(a, cfg.challenge) is not None)
        finally:
            st.responders.remove(cfg.challenge, name, token)
        if authz.get("status") != "valid":
            raise self._invalid(client, "challenge", challenge_failure(authz, cfg.challenge))

    def _invalid(self, client: AcmeClient, step: str, error: Any) -> AcmeError:
        problem = problem_from_object(error)
        if problem is None:
            return ProtocolError(step, "invalid without error")
        return client.problem(step, problem)

    async def _renewal_info(self, http: RecordingSession, client: AcmeClient, base: str,
                            leaf: Any) -> None:
        # RFC 9773: an unauthenticated GET, so no nonce and no signature.
        resp = await http.get(f"{base.rstrip('/')}/{ari_cert_id(leaf)}",
                              name="acme renewal-info")
        client.check(resp, "renewal-info", (200,))
        window = json_object(resp, "renewal-info").get("suggestedWindow")
        if not isinstance(window, dict) or not {"start", "end"} <= set(window):
            raise ProtocolError("renewal-info", "no suggestedWindow")
