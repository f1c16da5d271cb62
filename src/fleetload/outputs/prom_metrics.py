"""A run's numbers as Prometheus metric families: one model for the scrape
endpoint (``--output prometheus``) and for remote write (``--output prometheus-rw``).

:class:`RunMetrics` is fed every merged interval (on the merging thread) and
keeps run totals: counters add the interval's deltas, gauges take the
interval's values, and latency trends become Prometheus histograms whose
buckets are filled from the interval's HDR buckets (within the HDR precision,
0.1 %). The readers run on any thread and share one set of families built
at most once per interval (:meth:`RunMetrics.families`): remote write, and
:meth:`RunMetrics.collect`, a prometheus-client custom collector whose
metric families (also converted once per interval) prometheus-client renders
for the ``/metrics`` endpoint. Every series carries ``run_id`` and, when it
belongs to one, ``scenario``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from fleetload.metrics.failure_samples import failure_reason
from fleetload.metrics.histogram import Binned, bucket_layout
from fleetload.metrics.kinds import Tags
from fleetload.metrics.snapshot import IntervalSnapshot

if TYPE_CHECKING:  # prometheus-client is imported by collect(), for the /metrics endpoint
    from prometheus_client.core import Metric

PREFIX = "fleetload_"

# Histogram bucket bounds in seconds (Prometheus's ``le``).
BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
          10.0, 30.0, 60.0)
_BOUNDS_US = np.array([b * 1e6 for b in BOUNDS])
_LE = tuple(repr(b) for b in BOUNDS)

# counter metric -> (family name without _total, help, labels beyond run_id/scenario)
COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "http_reqs": ("http_reqs", "HTTP requests completed", ("name",)),
    "iterations": ("iterations", "iterations completed", ()),
    "dropped_iterations": ("dropped_iterations",
                           "scheduled iterations not started (in-flight cap reached)", ()),
    "iteration_errors": ("iteration_errors", "iterations that raised an exception", ()),
    "interrupted_iterations": ("interrupted_iterations",
                               "iterations cut short by the end of the run", ()),
    "data_sent": ("data_sent_bytes", "bytes sent", ()),
    "data_received": ("data_received_bytes", "bytes received", ()),
}
FAILURES = ("http_req_failures", "HTTP requests whose response was not expected, by reason",
            ("name", "reason"))
CHECKS = ("checks", "checks run, by check and result (pass or fail)", ("check", "result"))

# trend metric -> (family name, help, labels beyond run_id/scenario)
HISTOGRAMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "http_req_duration": ("http_req_duration_seconds",
                          "first byte sent to last byte received", ("name",)),
    "http_req_latency": ("http_req_latency_seconds", "intended iteration start to last byte "
                         "(coordinated omission corrected)", ("name",)),
    "iteration_duration": ("iteration_duration_seconds", "time to run one iteration", ()),
    "iteration_lag": ("iteration_lag_seconds", "actual minus scheduled iteration start", ()),
}

GAUGES: dict[str, str] = {
    "vus": "VUs active: iterations in flight",
    "vus_max": "VUs allocated",
    "scheduler_lag_seconds": "how far the open-loop scheduler is behind its schedule",
    "agents": "fleet agents by registration state (active, pending, failed)",
    "streams": "fleet agents' open streams",
    "executor_status": "an executor's own live numbers, by key",
    "connections": "open client connections (all scenarios)",
    "elapsed_seconds": "seconds since the run started",
}
_AGENT_STATES = {"regs_active": "active", "regs_pending": "pending", "regs_failed": "failed"}

LabelValues = tuple[str, ...]
LabelPairs = tuple[tuple[str, str], ...]  # sorted by label name, run_id included
FamilySample = tuple[str, LabelPairs, float]  # series name, labels, value


@dataclass(frozen=True)
class Family:
    """One metric family: ``name`` without ``_total`` for counters, as
    prometheus-client names them; each sample carries its full series name."""

    name: str
    doc: str
    kind: str  # counter, gauge, histogram
    samples: list[FamilySample]


@dataclass
class _Hist:
    buckets: np.ndarray = field(default_factory=lambda: np.zeros(len(BOUNDS) + 1))
    sum: float = 0.0
    count: int = 0


def _tag(tags: Tags, key: str) -> str:
    for k, v in tags:
        if k == key:
            return v
    return ""


class RunMetrics:
    """Run totals in Prometheus form (a prometheus-client custom collector)."""

    def __init__(self) -> None:
        self.run_id = ""
        self._lock = threading.Lock()
        self._counters: dict[str, dict[LabelValues, float]] = {}
        self._gauges: dict[str, dict[LabelValues, float]] = {}
        self._hists: dict[str, dict[LabelValues, _Hist]] = {}
        self.updates = 0  # intervals applied
        self._built: tuple[tuple[int, str], list[Family]] | None = None
        self._metrics: tuple[list[Family], list[Metric]] | None = None
        self._last: IntervalSnapshot | None = None

    # -- feeding (merging thread) -----------------------------------------------------
    def add(self, snap: IntervalSnapshot) -> None:
        """Apply one merged interval (once: outputs sharing these metrics may
        each pass the same interval)."""
        if snap is self._last:
            return
        self._last = snap
        counters: list[tuple[str, LabelValues, float]] = []
        for (metric, tags), v in snap.counters.items():
            sc = _tag(tags, "scenario")
            spec = COUNTERS.get(metric)
            if spec is not None:
                counters.append((spec[0], (sc, *(_tag(tags, k) for k in spec[2])), v))
            if metric == "http_reqs" and ("expected_response", "false") in tags:
                reason = failure_reason(int(_tag(tags, "status") or 0), _tag(tags, "error") or None)
                counters.append((FAILURES[0], (sc, _tag(tags, "name"), reason), v))
        for (metric, tags), (passes, total) in snap.rates.items():
            if metric == "checks":
                sc, check = _tag(tags, "scenario"), _tag(tags, "check")
                counters.append((CHECKS[0], (sc, check, "pass"), float(passes)))
                counters.append((CHECKS[0], (sc, check, "fail"), float(total - passes)))
        gauges = self._gauges_of(snap)
        hists = [(HISTOGRAMS[m][0], (_tag(tags, "scenario"),
                                     *(_tag(tags, k) for k in HISTOGRAMS[m][2])), b)
                 for (m, tags), b in snap.trends.items() if m in HISTOGRAMS and b.count]
        with self._lock:
            for name, labels, v in counters:
                series = self._counters.setdefault(name, {})
                series[labels] = series.get(labels, 0.0) + v
            self._gauges = gauges
            for name, labels, b in hists:
                h = self._hists.setdefault(name, {}).setdefault(labels, _Hist())
                _add_binned(h, b)
            self.updates += 1

    @staticmethod
    def _gauges_of(snap: IntervalSnapshot) -> dict[str, dict[LabelValues, float]]:
        out: dict[str, dict[LabelValues, float]] = {name: {} for name in GAUGES}
        for (metric, tags), v in snap.gauges.items():
            if metric in ("vus", "vus_max") and tags:
                series = out[metric]
                lv = (_tag(tags, "scenario"),)
                series[lv] = series.get(lv, 0.0) + v
        for note, v in snap.notes.items():
            if note.startswith("max_behind:"):
                out["scheduler_lag_seconds"][(note.split(":", 1)[1],)] = v
            elif note.startswith(("status:", "max_status:")):
                _, sc, key = note.split(":", 2)
                out["executor_status"][(sc, key)] = v
                if key in _AGENT_STATES:
                    out["agents"][(sc, _AGENT_STATES[key])] = v
                elif key == "streams_open":
                    out["streams"][(sc,)] = v
        out["connections"][()] = snap.notes.get("connections", 0.0)
        out["elapsed_seconds"][()] = snap.end
        return out

    # -- reading (any thread) ---------------------------------------------------------
    def describe(self) -> list[Metric]:
        return []

    def families(self) -> list[Family]:
        """Every family with its samples, built once per interval (cached)."""
        with self._lock:
            version = (self.updates, self.run_id)
            if self._built is not None and self._built[0] == version:
                return self._built[1]
            families = list(self._build())
            self._built = (version, families)
            return families

    def collect(self) -> Iterator[Metric]:
        """The families as prometheus-client metric families (a custom
        collector), converted once per interval."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        families = self.families()
        with self._lock:
            if self._metrics is not None and self._metrics[0] is families:
                return iter(self._metrics[1])
        kinds: dict[str, Callable[[str, str], Metric]] = {"counter": CounterMetricFamily,
                                          "gauge": GaugeMetricFamily,
                                          "histogram": HistogramMetricFamily}
        metrics: list[Metric] = []
        for fam in families:
            metric = kinds[fam.kind](fam.name, fam.doc)
            add_sample = metric.add_sample
            for name, labels, value in fam.samples:
                add_sample(name, _label_dict(labels), value)
            metrics.append(metric)
        with self._lock:
            self._metrics = (families, metrics)
        return iter(metrics)

    def _build(self) -> Iterator[Family]:
        """From the totals (the lock held): counters, gauges, histograms."""
        specs = {spec[0]: (spec[1], spec[2]) for spec in COUNTERS.values()}
        specs[FAILURES[0]] = (FAILURES[1], FAILURES[2])
        specs[CHECKS[0]] = (CHECKS[1], CHECKS[2])
        run = ("run_id", self.run_id)
        for name, series in self._counters.items():
            doc, extra = specs[name]
            keys = ("scenario", *extra)
            yield Family(PREFIX + name, doc, "counter", [
                (PREFIX + name + "_total", _pairs(run, keys, labels), v)
                for labels, v in sorted(series.items())])
        for name, gseries in self._gauges.items():
            if not gseries:
                continue
            keys = _gauge_labels(name)
            yield Family(PREFIX + name, GAUGES[name], "gauge", [
                (PREFIX + name, _pairs(run, keys, labels), v)
                for labels, v in sorted(gseries.items())])
        hist_specs = {spec[0]: spec for spec in HISTOGRAMS.values()}
        for name, hseries in self._hists.items():
            _, doc, extra = hist_specs[name]
            keys = ("scenario", *extra)
            samples: list[FamilySample] = []
            bucket = PREFIX + name + "_bucket"
            for labels, h in sorted(hseries.items(), key=lambda kv: kv[0]):
                pairs = _pairs(run, keys, labels)
                cumulative = np.cumsum(h.buckets).tolist()
                *finite, inf = _bucket_pairs(pairs)
                samples.extend((bucket, le_pairs, float(c))
                               for le_pairs, c in zip(finite, cumulative, strict=False))
                samples.append((bucket, inf, float(h.count)))
                samples.append((PREFIX + name + "_count", pairs, float(h.count)))
                samples.append((PREFIX + name + "_sum", pairs, h.sum))
            yield Family(PREFIX + name, doc, "histogram", samples)

    def totals(self, family: str) -> Mapping[LabelValues, float]:
        """A counter family's series (for tests and summaries)."""
        with self._lock:
            return dict(self._counters.get(family, {}))


@functools.lru_cache(maxsize=4096)
def _pairs(run: tuple[str, str], keys: tuple[str, ...], values: LabelValues) -> LabelPairs:
    """Label pairs sorted by name, as both exposition and remote write want
    them (a series keeps its labels for the run: made once)."""
    return tuple(sorted((run, *zip(keys, values, strict=True))))


@functools.lru_cache(maxsize=4096)
def _bucket_pairs(pairs: LabelPairs) -> tuple[LabelPairs, ...]:
    """A histogram series' bucket labels, one per ``le`` and ``+Inf`` last."""
    return tuple(tuple(sorted((*pairs, ("le", le)))) for le in (*_LE, "+Inf"))


@functools.lru_cache(maxsize=16384)
def _label_dict(pairs: LabelPairs) -> dict[str, str]:
    """The labels as prometheus-client's samples hold them (shared between
    intervals: prometheus-client only reads them)."""
    return dict(pairs)


class UsesRunMetrics(Protocol):
    metrics: RunMetrics

    def use_metrics(self, metrics: RunMetrics) -> None: ...


def share_metrics(outputs: Iterable[object]) -> None:
    """Outputs of the same series (a ``/metrics`` endpoint, remote write)
    share one :class:`RunMetrics`: each interval is folded in, and the
    families built, once for all of them."""
    users = [cast(UsesRunMetrics, o) for o in outputs
             if isinstance(getattr(o, "metrics", None), RunMetrics)
             and callable(getattr(o, "use_metrics", None))]
    for o in users[1:]:
        o.use_metrics(users[0].metrics)


def _gauge_labels(name: str) -> tuple[str, ...]:
    if name in ("connections", "elapsed_seconds"):
        return ()
    if name == "agents":
        return ("scenario", "state")
    if name == "executor_status":
        return ("scenario", "key")
    return ("scenario",)


@functools.cache
def _slots() -> np.ndarray:
    """Every HDR bucket's Prometheus bucket (by its lowest value)."""
    _, lowest, _ = bucket_layout()
    return np.searchsorted(_BOUNDS_US, lowest, side="left")


def _add_binned(h: _Hist, b: Binned) -> None:
    h.buckets += np.bincount(_slots()[b.index], weights=b.counts.astype(np.float64),
                             minlength=len(BOUNDS) + 1)
    h.sum += b.total / 1e6
    h.count += int(b.count)
