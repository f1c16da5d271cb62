"""Where agents' client TLS identities come from: a directory of PEM pairs, or
certificates minted at start from a CA.

``--identities DIR`` (:class:`DirIdentities`): one certificate/key pair per
agent, either ``<name>.crt`` + ``<name>.key`` or ``<name>.pem`` +
``<name>-key.pem``; pairs are sorted by ``<name>`` and agent i (0-based,
run-wide) presents the i-th. Other files are ignored. Every pair the fleet
uses is read and checked (PEM, key matching the certificate) when the run is
built, before anything connects.

``--mint-identities CA_CERT,CA_KEY`` (:class:`MintedIdentities`): each agent gets
a fresh EC P-256 key, held in memory only, and a certificate the CA signs:
subject CN and a DNS SAN naming the agent's hostname, clientAuth, valid for
:data:`MINT_VALIDITY`. Minting happens when an agent first asks for its
identity (during the ramp), and its cost is recorded: ``fleet_identity_mint``
(trend) and ``fleet_identities_minted`` (counter), shown in the live line.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fleetload.engine.runtime import ScenarioRuntime
from fleetload.errors import ConfigError
from fleetload.fleet import metrics as fm
from fleetload.fleet.client_identity import ClientIdentity, IdentitySource
from fleetload.protocols.http.tls import identity_leaf, identity_problem

MINT_VALIDITY = datetime.timedelta(days=7)
"""How long a minted certificate is valid (from five minutes before minting)."""
_BACKDATE = datetime.timedelta(minutes=5)


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path!r}: {exc.strerror or exc}") from None


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode(errors="replace")


# -- a directory of pairs ------------------------------------------------------------------
def find_pairs(directory: str) -> list[tuple[str, str, str]]:
    """``(name, cert file, key file)`` of the pairs in ``directory``, sorted by
    name. A certificate without its key, or a key without its certificate, is
    a :class:`ConfigError`."""
    try:
        entries = sorted(e.name for e in os.scandir(directory) if not e.name.startswith("."))
    except NotADirectoryError:
        raise ConfigError(f"--identities: {directory!r} is not a directory") from None
    except OSError as exc:
        raise ConfigError(f"--identities: cannot list {directory!r}: {exc.strerror or exc}") from None
    files = set(entries)
    pairs: dict[str, tuple[str, str]] = {}
    for entry in entries:
        if entry.endswith(".crt"):
            name, key = entry[:-4], entry[:-4] + ".key"
        elif entry.endswith(".pem") and not entry.endswith("-key.pem"):
            name, key = entry[:-4], entry[:-4] + "-key.pem"
        elif entry.endswith(".key"):
            if entry[:-4] + ".crt" not in files:
                raise ConfigError(f"--identities: {entry} has no certificate {entry[:-4]}.crt "
                                  f"in {directory!r}")
            continue
        elif entry.endswith("-key.pem"):
            if entry[:-8] + ".pem" not in files:
                raise ConfigError(f"--identities: {entry} has no certificate {entry[:-8]}.pem "
                                  f"in {directory!r}")
            continue
        else:
            continue
        if key not in files:
            raise ConfigError(f"--identities: {entry} has no key {key} in {directory!r}")
        pairs[name] = (entry, key)
    return [(name, *pairs[name]) for name in sorted(pairs)]


@dataclass(frozen=True)
class DirIdentities:
    """Agent i presents the i-th pair of a directory (see the module docstring)."""

    directory: str
    identities: tuple[ClientIdentity, ...] = field(repr=False)

    @classmethod
    def load(cls, directory: str, agents: int) -> DirIdentities:
        """Read and check the first ``agents`` pairs: fewer pairs than agents,
        an unreadable file or a pair that is not a certificate and its key is a
        :class:`ConfigError`."""
        pairs = find_pairs(directory)
        if len(pairs) < agents:
            raise ConfigError(f"--identities: {directory!r} holds {len(pairs):,} certificate/key "
                              f"pairs, the fleet has {agents:,} agents (one pair per agent)")
        used = pairs[:max(agents, 0)]
        # The plan is built more than once per process: the same files are
        # checked once (about 0.3 ms a pair).
        key = (os.path.abspath(directory), tuple(_stamp(directory, p) for p in used))
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = tuple(_load_pair(directory, cert_file, key_file)
                           for _name, cert_file, key_file in used)
            if len(_LOADED) >= 4:
                _LOADED.clear()
            _LOADED[key] = loaded
        return cls(directory, loaded)

    def identity(self, index: int, hostname: str) -> ClientIdentity:
        return self.identities[index]


_LOADED: dict[tuple[str, tuple[tuple[str, int, int, int, int], ...]], tuple[ClientIdentity, ...]] = {}


def _stamp(directory: str, pair: tuple[str, str, str]) -> tuple[str, int, int, int, int]:
    _name, cert_file, key_file = pair
    try:
        c = os.stat(os.path.join(directory, cert_file))
        k = os.stat(os.path.join(directory, key_file))
    except OSError:
        return (cert_file, -1, -1, -1, -1)  # not cached: _load_pair reports it
    return (cert_file, c.st_mtime_ns, c.st_size, k.st_mtime_ns, k.st_size)


def _load_pair(directory: str, cert_file: str, key_file: str) -> ClientIdentity:
    cert_pem = _read(os.path.join(directory, cert_file), "--identities")
    key_pem = _read(os.path.join(directory, key_file), "--identities")
    try:
        leaf = identity_leaf(cert_pem, key_pem)
    except ValueError as exc:
        raise ConfigError(f"--identities: {cert_file} / {key_file} in {directory!r}: {exc}") from None
    return ClientIdentity(cert_pem, key_pem, _common_name(leaf))


# -- minted from a CA ----------------------------------------------------------------------
_SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | \
    ed448.Ed448PrivateKey


@dataclass(frozen=True)
class _CA:
    cert: x509.Certificate
    key: _SigningKey

    @classmethod
    def load(cls, cert_file: str, key_file: str) -> _CA:
        what = "--mint-identities"
        cert_pem, key_pem = _read(cert_file, what), _read(key_file, what)
        try:
            cert = x509.load_pem_x509_certificates(cert_pem)[0]
        except ValueError:
            raise ConfigError(f"{what}: {cert_file!r} holds no PEM certificate") from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError:
            raise ConfigError(f"{what}: the CA key {key_file!r} is encrypted "
                              "(give an unencrypted PEM key)") from None
        except ValueError:
            raise ConfigError(f"{what}: {key_file!r} holds no PEM private key") from None
        if not isinstance(key, _SigningKey):
            raise ConfigError(f"{what}: the CA key {key_file!r} cannot sign certificates "
                              f"({type(key).__name__})")
        if problem := identity_problem(cert_pem, key_pem):
            raise ConfigError(f"{what}: {cert_file!r} / {key_file!r}: {problem.replace('the key', 'the CA key')}")
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise ConfigError(f"{what}: {cert_file!r} is not a CA certificate "
                              "(no basicConstraints CA:TRUE)")
        return cls(cert, key)

    def sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        algorithm = None if isinstance(self.key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) \
            else hashes.SHA256()
        return builder.sign(self.key, algorithm)


class MintMeter:
    """Records each minting: the ``fleet_identity_mint`` trend, the
    ``fleet_identities_minted`` counter and the live line's status keys."""

    __slots__ = ("_collector", "_counter", "_status", "_trend")

    def __init__(self, rt: ScenarioRuntime) -> None:
        self._collector = rt.collector
        self._trend = rt.collector.trend((fm.IDENTITY_MINT, rt.tags))
        self._counter = (fm.IDENTITIES_MINTED, rt.tags)
        self._status = rt.status
        rt.status.setdefault("identities_minted", 0.0)
        rt.status.setdefault("identity_mint_s", 0.0)

    def minted(self, seconds: float) -> None:
        self._trend.append(seconds)
        self._collector.add_counter(self._counter, 1.0)
        self._status["identities_minted"] += 1
        self._status["identity_mint_s"] += seconds


class MintedIdentities:
    """Agent certificates minted from a CA on first use (see the module docstring).
    An agent asking again (a reconnect) gets the same identity."""

    def __init__(self, ca_cert_file: str, ca_key_file: str, *,
                 validity: datetime.timedelta = MINT_VALIDITY,
                 meter: MintMeter | None = None) -> None:
        self.ca_cert_file = ca_cert_file
        self.ca_key_file = ca_key_file
        self.validity = validity
        self._ca = _CA.load(ca_cert_file, ca_key_file)
        self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self._ca.key.public_key())  # type: ignore[arg-type]
        self._meter = meter
        self._minted: dict[int, ClientIdentity] = {}

    def __repr__(self) -> str:
        return f"MintedIdentities(ca={self.ca_cert_file!r})"

    def metered(self, rt: ScenarioRuntime) -> MintedIdentities:
        """The same CA, recording its minting into this scenario's metrics."""
        twin = MintedIdentities.__new__(MintedIdentities)
        twin.__dict__.update(self.__dict__)
        twin._meter = MintMeter(rt)
        twin._minted = {}
        return twin

    def identity(self, index: int, hostname: str) -> ClientIdentity:
        known = self._minted.get(index)
        if known is not None:
            return known
        t0 = time.perf_counter()
        made = self.mint(hostname)
        if self._meter is not None:
            self._meter.minted(time.perf_counter() - t0)
        self._minted[index] = made
        return made

    def mint(self, hostname: str) -> ClientIdentity:
        """A new key and a certificate naming ``hostname``, signed by the CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(self._ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + self.validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                         content_commitment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(self._aki, critical=False)
        )
        cert = self._ca.sign(builder)
        # SEC1 ("EC PRIVATE KEY"): OpenSSL 3 loads it faster than PKCS#8, once per agent.
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        return ClientIdentity(cert.public_bytes(serialization.Encoding.PEM), key_pem, hostname)


# -- from the packs' parameters ------------------------------------------------------------
def source_from_params(directory: str | None, mint: str | None, *, agents: int) -> IdentitySource | None:
    """The identity source ``--identities DIR`` or ``--mint-identities CA_CERT,CA_KEY``
    ask for (None without either); both given, or bad files, is a :class:`ConfigError`."""
    if directory and mint:
        raise ConfigError("give --identities DIR or --mint-identities CA_CERT,CA_KEY, not both")
    if directory:
        return DirIdentities.load(directory, agents)
    if mint:
        parts = [p.strip() for p in mint.split(",")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--mint-identities: expected CA_CERT,CA_KEY (two PEM files, "
                              f"comma-separated), got {mint!r}")
        return MintedIdentities(parts[0], parts[1])
    return None


def metered(source: IdentitySource | None, rt: ScenarioRuntime) -> IdentitySource | None:
    """``source``, recording what it costs into ``rt`` when it mints."""
    if isinstance(source, MintedIdentities):
        return source.metered(rt)
    return source


def describe(source: Any) -> str:
    """A few words for the run's description (never key material)."""
    if isinstance(source, DirIdentities):
        return f"identities from {source.directory} ({len(source.identities):,} pairs)"
    if isinstance(source, MintedIdentities):
        return f"identities minted from {source.ca_cert_file}"
    return "client identities"


__all__ = ["MINT_VALIDITY", "DirIdentities", "MintMeter", "MintedIdentities", "describe",
           "find_pairs", "metered", "source_from_params"]
