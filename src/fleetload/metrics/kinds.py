"""Metric kinds, series keys and the built-in metric catalogue (k6 names)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Tags = tuple[tuple[str, str], ...]
"""Sorted ``(key, value)`` pairs: hashable and cheap to compare."""

SeriesKey = tuple[str, Tags]


class Kind(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    RATE = "rate"
    TREND = "trend"


class Contains(StrEnum):
    DEFAULT = "default"
    TIME = "time"
    DATA = "data"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    kind: Kind
    contains: Contains = Contains.DEFAULT
    description: str = ""


def _info(name: str, kind: Kind, contains: Contains = Contains.DEFAULT, desc: str = "") -> MetricInfo:
    return MetricInfo(name, kind, contains, desc)


T, C, R, G = Kind.TREND, Kind.COUNTER, Kind.RATE, Kind.GAUGE
TIME, DATA = Contains.TIME, Contains.DATA

HTTP_PHASES = ("blocked", "connecting", "tls_handshaking", "sending", "waiting", "receiving")

BUILTIN: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        _info("http_reqs", C, desc="HTTP requests made"),
        _info("http_req_duration", T, TIME, "first byte sent to last byte received (k6)"),
        _info("http_req_latency", T, TIME, "intended iteration start to last byte (coordinated omission corrected)"),
        *(_info(f"http_req_{p}", T, TIME, f"HTTP {p} phase") for p in HTTP_PHASES),
        _info("http_req_failed", R, desc="requests whose response was not expected"),
        _info("iterations", C, desc="iterations completed"),
        _info("iteration_duration", T, TIME, "time to run one iteration"),
        _info("iteration_lag", T, TIME, "actual minus scheduled iteration start"),
        _info("dropped_iterations", C, desc="scheduled iterations not started: in-flight cap reached"),
        _info("interrupted_iterations", C, desc="iterations cut short by the end of a run"),
        _info("iteration_errors", C, desc="iterations that raised an exception"),
        _info("vus", G, desc="active VUs / iterations in flight"),
        _info("vus_max", G, desc="allocated VUs"),
        _info("data_sent", C, DATA, "bytes sent"),
        _info("data_received", C, DATA, "bytes received"),
        _info("checks", R, desc="checks that passed"),
    )
}

SYSTEM_TAG_KEYS = frozenset(
    {"scenario", "name", "method", "status", "expected_response", "error", "check", "url", "group"}
)


def scenario_of(tags: Tags) -> str:
    """The ``scenario`` tag's value ("" when there is none)."""
    for k, v in tags:
        if k == "scenario":
            return v
    return ""


def make_tags(mapping: dict[str, str] | None) -> Tags:
    if not mapping:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


def series_name(name: str, tags: Tags) -> str:
    """k6's sub-metric naming: ``name{k:v,k2:v2}``."""
    if not tags:
        return name
    return name + "{" + ",".join(f"{k}:{v}" for k, v in tags) + "}"
