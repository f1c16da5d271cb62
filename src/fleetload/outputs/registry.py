"""``--output KIND=WHERE``: the extra outputs a user can ask for by name.

Each kind parses and checks its ``WHERE`` here, before the run starts, so a
bad spec is one line and exit code 2; its module is imported only when used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fleetload.errors import ConfigError
from fleetload.outputs.base import Output
from fleetload.redact import redact_text


@dataclass(frozen=True)
class OutputKind:
    name: str
    where: str  # what WHERE is, for the help and the errors
    build: Callable[[str, str], Output]  # (spec to show in errors, WHERE) -> output


def parse_host_port(spec: str, where: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT`` (loopback)."""
    host, sep, port_text = where.rpartition(":")
    if not sep:
        host, port_text = "", where
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--output {spec}: expected HOST:PORT, got {where!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--output {spec}: port {port} is out of range (0-65535)")
    return host, port


def _csv(spec: str, where: str) -> Output:
    from fleetload.outputs.csvfile import CsvOutput

    path = Path(where)
    if path.is_dir():
        raise ConfigError(f"--output {spec}: {where} is a directory; give a file name")
    return CsvOutput(path)


def _prometheus(spec: str, where: str) -> Output:
    from fleetload.outputs.prometheus import PrometheusEndpoint

    host, port = parse_host_port(spec, where)
    return PrometheusEndpoint(host, port)


def _dashboard(spec: str, where: str) -> Output:
    from fleetload.outputs.dashboard import Dashboard

    host, port = parse_host_port(spec, where)
    return Dashboard(host, port)


def _remote_write(spec: str, where: str) -> Output:
    parts = urlsplit(where)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--output {spec}: expected an http(s) URL such as "
                          "http://127.0.0.1:9090/api/v1/write")
    try:
        from fleetload.outputs.remote_write import RemoteWrite
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--output prometheus-rw needs the 'prometheus' extra (missing "
                          f"module {exc.name}): pip install 'fleetload[prometheus]'") from None
    return RemoteWrite(where)


KINDS: dict[str, OutputKind] = {k.name: k for k in (
    OutputKind("csv", "FILE", _csv),
    OutputKind("prometheus", "HOST:PORT", _prometheus),
    OutputKind("prometheus-rw", "URL", _remote_write),
    OutputKind("dashboard", "HOST:PORT", _dashboard),
)}


def build_output(spec: str) -> Output:
    kind, eq, where = spec.partition("=")
    shown = redact_text(spec)  # a remote-write URL may carry user:password@
    known = ", ".join(f"{k.name}={k.where}" for k in KINDS.values())
    if not eq:
        raise ConfigError(f"--output {shown}: expected KIND=WHERE, one of {known}")
    found = KINDS.get(kind.strip())
    if found is None:
        raise ConfigError(f"--output {shown}: unknown output kind {kind!r}; one of {known}")
    if not where.strip():
        raise ConfigError(f"--output {shown}: {found.name} needs {found.where}")
    return found.build(shown, where.strip())


def build_outputs(specs: Sequence[str]) -> list[Output]:
    """Every ``--output`` in the order given (the Prometheus ones sharing
    their series)."""
    outputs = [build_output(s) for s in specs]
    if sum(1 for s in specs if s.partition("=")[0].strip().startswith("prometheus")) > 1:
        from fleetload.outputs.prom_metrics import share_metrics

        share_metrics(outputs)
    return outputs
