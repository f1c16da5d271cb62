"""Service-level objectives for a ceiling search, and their evaluation on a
step's measured window only (warm-up excluded).

An SLO is a threshold in k6's grammar: ``'p(99)<1000'`` (a bare expression
means ``http_req_duration``) or ``'METRIC[{tag:value}]:EXPR'``.

Where the window's value comes from:

* trend metrics (``http_req_duration``, ``http_req_latency``, ...): the
  per-second histograms of ``intervals.hlog`` from the end of the warm-up on,
  merged exactly — including the drain after the window, because under
  overload the slowest answers arrive after the schedule ended;
* ``http_req_failed`` (rate) and ``dropped_iterations``: the per-second counts
  of ``timeline.jsonl``; iterations cut off at the graceful stop are counted as
  failed requests (a request that never answered did not succeed);
* anything else (custom metrics, ``checks``): the whole run's value from
  ``summary.json``, marked ``whole_run``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetload.errors import ConfigError
from fleetload.metrics.histogram import Histogram
from fleetload.metrics.thresholds import (
    _EXPR,
    Selector,
    Threshold,
    parse_cli_threshold,
    parse_selector,
    parse_threshold,
)

DEFAULT_METRIC = "http_req_duration"
TREND_METRICS = frozenset({
    "http_req_duration", "http_req_latency", "http_req_waiting", "http_req_blocked",
    "http_req_connecting", "http_req_tls_handshaking", "http_req_sending",
    "http_req_receiving", "iteration_duration", "iteration_lag"})


@dataclass(frozen=True)
class SLO:
    text: str  # as given on the command line
    selector: Selector
    threshold: Threshold

    @property
    def label(self) -> str:
        return f"{self.selector}:{self.threshold.source}"


def parse_slo(text: str) -> SLO:
    raw = text.strip()
    if _EXPR.match(raw):
        sel, expr = DEFAULT_METRIC, raw
    else:
        try:
            sel, expr = parse_cli_threshold(raw)
        except ConfigError as exc:
            raise ConfigError(f"--slo {text!r}: expected 'p(99)<1000' or "
                              f"'METRIC[{{tag:value}}]:EXPR' ({exc})") from None
    selector = parse_selector(sel)
    threshold = parse_threshold(expr, where=f"--slo {text}")
    if selector.metric in TREND_METRICS and threshold.agg not in ("p", "avg", "min", "max",
                                                                   "med", "count"):
        raise ConfigError(f"--slo {text!r}: {selector.metric} is a trend; use p(N), avg, med, "
                          "min, max or count")
    if selector.metric == "http_req_failed" and threshold.agg != "rate":
        raise ConfigError(f"--slo {text!r}: http_req_failed is a rate; use e.g. 'rate<0.01'")
    return SLO(raw, selector, threshold)


@dataclass
class SLOResult:
    slo: str
    ok: bool
    observed: float | None
    whole_run: bool = False
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"slo": self.slo, "ok": self.ok, "observed": self.observed,
                "whole_run": self.whole_run, "reason": self.reason or None}


def parse_series(series: str) -> tuple[str, dict[str, str]]:
    name, _, rest = series.partition("{")
    tags: dict[str, str] = {}
    if rest.endswith("}"):
        for part in rest[:-1].split(","):
            k, _, v = part.partition(":")
            if k:
                tags[k] = v
    return name, tags


def matches(selector: Selector, name: str, tags: Mapping[str, str]) -> bool:
    return name == selector.metric and all(tags.get(k) == v for k, v in selector.tags)


def trend_stat(h: Histogram, t: Threshold) -> float | None:
    """A trend aggregation in milliseconds (histograms hold microseconds)."""
    if not h.count:
        return None
    if t.agg == "count":
        return float(h.count)
    if t.agg == "p":
        return h.percentile(t.percentile or 0.0) / 1000.0
    if t.agg == "med":
        return h.percentile(50.0) / 1000.0
    if t.agg == "avg":
        return h.mean() / 1000.0
    if t.agg == "min":
        return float(h.min) / 1000.0
    if t.agg == "max":
        return float(h.max) / 1000.0
    return None


def evaluate_slos(slos: Sequence[SLO], window: Any, summary: Mapping[str, Any]) -> list[SLOResult]:
    """``window`` is a :class:`fleetload.capacity.window.Window`."""
    out: list[SLOResult] = []
    for slo in slos:
        sel, t = slo.selector, slo.threshold
        observed: float | None = None
        whole = False
        if sel.metric in TREND_METRICS:
            observed = trend_stat(window.histogram(sel), t)
        elif sel.metric == "http_req_failed" and all(k == "scenario" for k, _ in sel.tags):
            observed = window.failure_rate(dict(sel.tags).get("scenario"))
        elif sel.metric == "dropped_iterations" and t.agg in ("count", "rate"):
            n = window.dropped(dict(sel.tags).get("scenario"))
            observed = n if t.agg == "count" else n / max(window.length, 1e-9)
        else:
            whole = True
            entry = summary.get("metrics", {}).get(str(sel), {})
            value = entry.get("values", {}).get(t.stat)
            observed = float(value) if isinstance(value, int | float) else None
        if observed is None:
            out.append(SLOResult(slo.label, False, None, whole, "no samples"))
        else:
            out.append(SLOResult(slo.label, t.holds(observed), observed, whole))
    return out
