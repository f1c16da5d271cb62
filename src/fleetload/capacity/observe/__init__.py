"""``--observe KIND=WHAT`` specs → observers sampled once a second during a run.

``prometheus=URL[#name,...]``, ``postgres=URL``, ``process=PID|NAME``.
A bad spec is a ``ConfigError`` (exit 2) before anything starts.
"""

from __future__ import annotations

from fleetload.errors import ConfigError
from fleetload.redact import redact_url
from fleetload.results.observations import Observer

from .postgres import PostgresObserver, source_name
from .process import ProcessObserver, generator_observer
from .prometheus import PrometheusObserver

KINDS = ("prometheus", "postgres", "process")

__all__ = ["KINDS", "build_observers", "generator_observer"]


def _parse(spec: str) -> tuple[str, str]:
    kind, eq, what = spec.partition("=")
    kind = kind.strip().lower()
    if not eq or not what.strip():
        raise ConfigError(f"--observe {redact_url(spec) if '://' in spec else spec!r}: "
                          f"expected KIND=WHAT with KIND in {', '.join(KINDS)}")
    if kind not in KINDS:
        raise ConfigError(f"--observe {kind}=...: unknown kind {kind!r}; "
                          f"known: {', '.join(KINDS)}")
    return kind, what.strip()


def build_observers(specs: tuple[str, ...]) -> list[Observer]:
    parsed = [_parse(s) for s in specs]
    several_pg = sum(1 for k, _ in parsed if k == "postgres") > 1
    out: list[Observer] = []
    for kind, what in parsed:
        if kind == "prometheus":
            url, hash_sign, names = what.partition("#")
            metrics = tuple(n.strip() for n in names.split(",") if n.strip())
            if hash_sign and not metrics:
                raise ConfigError(f"--observe prometheus={redact_url(url)}#: no metric names after '#'")
            out.append(PrometheusObserver(url, metrics))
        elif kind == "postgres":
            # One server is "postgres" (results.md); several are told apart by host/db.
            out.append(PostgresObserver(what, source=source_name(what) if several_pg else "postgres"))
        else:
            out.append(ProcessObserver(what))
    sources = [o.source for o in out]
    dupes = {s for s in sources if sources.count(s) > 1}
    if dupes:
        raise ConfigError(f"--observe: the same source given twice: {', '.join(sorted(dupes))}")
    return out
