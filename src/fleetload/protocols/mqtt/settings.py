"""An MQTT fleet's options, checked once: the broker URL, the session, the
telemetry and the command stream (what ``fleetload run mqtt-fleet`` flags set)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fleetload.errors import ConfigError
from fleetload.protocols.http.tls import load_client_identity
from fleetload.protocols.mqtt import codec

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
VERSIONS = {"3.1.1": 4, "311": 4, "4": 4, "5": 5, "5.0": 5}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One broker address: ``mqtt(s)://HOST:PORT``."""

    url: str
    tls: bool
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class MqttSettings:
    url: str  # the first endpoint's (the command stream and messages use it)
    host: str
    port: int
    tls: bool
    endpoints: tuple[Endpoint, ...] = ()
    """Every ``--broker`` address; device n connects to endpoint n mod their number."""
    tls_insecure: bool = False
    ca_file: str | None = None
    version: int = 4
    keepalive: int = 60
    clean: bool = True
    session_expiry: int = 3600
    username: str | None = None
    password: str | None = None
    qos: int = 0
    payload_bytes: int = 200
    topic_prefix: str = "fleetload"
    command_rate: float = 0.0
    command_qos: int = 1
    command_timeout: float = 10.0
    connect_timeout: float = 10.0

    def connect_options(self, client_id: str) -> codec.ConnectOptions:
        return codec.ConnectOptions(
            client_id=client_id, version=self.version, keepalive=self.keepalive,
            clean=self.clean, session_expiry=0 if self.clean else self.session_expiry,
            username=self.username, password=self.password)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context of the ``mqtts://`` endpoints (None when there are none)."""
        if not any(e.tls for e in self.endpoints) and not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if self.tls_insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def device_ssl_context(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        """A context of one device's own, presenting its certificate and key.

        Built for each device, so kept cheap (about a millisecond): the CA of
        ``ca_file`` only, or the system's hashed CA directory looked up on
        demand, rather than parsing the whole system bundle (tens of ms)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.tls_insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_file is not None:
            ctx.load_verify_locations(cafile=self.ca_file)
        else:
            paths = ssl.get_default_verify_paths()
            if paths.capath and os.path.isdir(paths.capath):
                ctx.load_verify_locations(capath=paths.capath)
            else:
                ctx.load_default_certs()
        load_client_identity(ctx, cert_pem, key_pem)
        return ctx

    def topic(self, client_id: str, kind: str) -> bytes:
        """``<topic-prefix>/<client-id>/<kind>`` (telemetry, cmd, reply)."""
        return f"{self.topic_prefix}/{client_id}/{kind}".encode()


def parse_broker(url: str) -> tuple[bool, str, int]:
    """``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]`` → (tls, host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(f"--broker {url!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError(f"--broker {url!r}: the port is not a number in 1-65535") from None
    return parts.scheme == "mqtts", parts.hostname, port


def settings_from(options: Mapping[str, Any]) -> MqttSettings:
    """Build and check the settings from a fleet's ``options_extra``."""
    url = options.get("broker")
    if not url:
        raise ConfigError("mqtt-fleet needs --broker mqtt://HOST:PORT (or mqtts://HOST:PORT)")
    endpoints = tuple(Endpoint(u, *parse_broker(u))
                      for u in (part.strip() for part in str(url).split(",")) if u)
    if not endpoints:
        raise ConfigError(f"--broker {url!r}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    first = endpoints[0]
    version = VERSIONS.get(str(options.get("mqtt_version", "3.1.1")))
    if version is None:
        raise ConfigError(f"--mqtt-version must be 3.1.1 or 5, got {options.get('mqtt_version')!r}")
    session = str(options.get("session", "clean"))
    if session not in ("clean", "persistent"):
        raise ConfigError(f"--session must be clean or persistent, got {session!r}")
    s = MqttSettings(
        url=first.url, host=first.host, port=first.port, tls=first.tls, endpoints=endpoints,
        tls_insecure=bool(options.get("tls_insecure", False)),
        ca_file=options.get("ca_file") or None, version=version,
        keepalive=int(options.get("keepalive", 60)), clean=session == "clean",
        session_expiry=int(options.get("session_expiry", 3600)),
        username=options.get("username") or None, password=options.get("password") or None,
        qos=int(options.get("qos", 0)), payload_bytes=int(options.get("payload_bytes", 200)),
        topic_prefix=str(options.get("topic_prefix", "fleetload")),
        command_rate=float(options.get("command_rate", 0.0)),
        command_qos=int(options.get("command_qos", 1)),
        command_timeout=float(options.get("command_timeout", 10.0)),
        connect_timeout=float(options.get("connect_timeout", 10.0)))
    _check(s)
    return s


def _check(s: MqttSettings) -> None:
    if s.qos not in (0, 1, 2):
        raise ConfigError(f"--qos must be 0, 1 or 2, got {s.qos}")
    if s.command_qos not in (0, 1, 2):
        raise ConfigError(f"--command-qos must be 0, 1 or 2, got {s.command_qos}")
    if not 0 <= s.keepalive <= 65535:
        raise ConfigError(f"--keepalive must be 0-65535 seconds, got {s.keepalive}")
    if not 0 <= s.payload_bytes <= 1_000_000:
        raise ConfigError(f"--payload-bytes must be 0-1000000, got {s.payload_bytes}")
    if s.command_rate < 0 or s.command_timeout <= 0 or s.connect_timeout <= 0:
        raise ConfigError("--command-rate must be >= 0, --command-timeout and "
                          "--connect-timeout > 0")
    if s.ca_file is not None and not os.path.isfile(s.ca_file):
        raise ConfigError(f"--ca-file {s.ca_file}: no such file")
    if s.password is not None and s.username is None:
        raise ConfigError("--password needs --username")
    if not s.topic_prefix or any(ch in s.topic_prefix for ch in "+#\0"):
        raise ConfigError(f"--topic-prefix {s.topic_prefix!r}: not empty, no + # or NUL")
