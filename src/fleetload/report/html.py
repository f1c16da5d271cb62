"""The HTML report: one self-contained file per run.

Tables (thresholds, scenarios, errors, methodology) are rendered here, so they
read even with scripts disabled; charts are drawn in the browser by a small
SVG layer (``assets/report.js``) from chart specs embedded as JSON. Scripts and
styles are inlined: the file opens offline, from a CI artifact or an e-mail.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from fleetload.metrics.histogram import Histogram
from fleetload.redact import scrub_credentials
from fleetload.report import tables
from fleetload.results import rundir
from fleetload.results.hlog import read_hlog
from fleetload.results.observations import OBSERVATIONS
from fleetload.results.store import load_json
from fleetload.results.timeline import read_timeline

REPORT = "report.html"
# More intervals than this are merged into windows: a browser draws a few
# hundred points per line crisply, and latency percentiles of a window are
# recomputed exactly from the interval log rather than averaged.
MAX_POINTS = 720
# Series per chart: beyond this a chart is unreadable; the rest are named in a note.
MAX_SERIES = 8
_ROW_KEYS = {"reqs", "failed", "iterations", "dropped", "errors", "vus", "vus_max",
             "checks_failed", "duration", "latency", "lag", "status"}
_LATENCY = {"duration": "http_req_duration", "latency": "http_req_latency"}

Series = list[float | None]


def _asset(name: str) -> str:
    return resources.files("fleetload.report").joinpath("assets", name).read_text(encoding="utf-8")


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) \
        else None


# -- per-interval data, windowed -------------------------------------------------------------
class Timeline:
    """The timeline's rows merged into windows of ``k`` intervals."""

    def __init__(self, rows: list[dict[str, Any]], hlog: Path) -> None:
        self.k = max(1, math.ceil(len(rows) / MAX_POINTS))
        self.windows = [rows[i: i + self.k] for i in range(0, len(rows), self.k)]
        # A run's last interval is usually a sliver (the graceful stop): as a
        # point of its own its per-second rates would spike, so it joins the
        # window before it.
        if len(self.windows) > 1 and float(self.windows[-1][-1].get("dt", 1.0)) < 0.5 \
                and len(self.windows[-1]) == 1:
            tail = self.windows.pop()
            self.windows[-1] = self.windows[-1] + tail
        self._window_of = [w for w, rows_ in enumerate(self.windows) for _ in rows_]
        self.t = [round(float(w[-1].get("t", 0.0)), 3) for w in self.windows]
        self.dt = [sum(float(r.get("dt", 1.0)) for r in w) or 1.0 for w in self.windows]
        self.scenarios = sorted({name for r in rows for name in (r.get("scenarios") or {})})
        self._exact = self._window_latency(rows, hlog) if self.merged else {}

    @property
    def merged(self) -> bool:
        """Whether some point stands for several intervals."""
        return any(len(w) > 1 for w in self.windows)

    def _cells(self, scenario: str) -> list[list[dict[str, Any]]]:
        return [[(r.get("scenarios") or {}).get(scenario) or {} for r in w] for w in self.windows]

    def per_second(self, scenario: str, key: str) -> Series:
        return [sum(_num(c.get(key)) or 0.0 for c in cells) / dt
                for cells, dt in zip(self._cells(scenario), self.dt, strict=True)]

    def peak(self, scenario: str, key: str, sub: str | None = None) -> Series:
        out: Series = []
        for cells in self._cells(scenario):
            vals = [_num((c.get(sub) or {}).get(key) if sub else c.get(key)) for c in cells]
            present = [v for v in vals if v is not None]
            out.append(max(present) if present else None)
        return out

    def latency(self, scenario: str, which: str, stat: str) -> Series:
        if self.merged:
            return [w.get(stat) for w in self._exact.get((scenario, _LATENCY[which]),
                                                          [{}] * len(self.windows))]
        return [_num((cells[0].get(which) or {}).get(stat)) if cells else None
                for cells in self._cells(scenario)]

    def extra_keys(self, scenario: str) -> list[tuple[str, str | None]]:
        """Numeric keys beyond the engine's own (e.g. a simulator's ``agents``),
        and numeric executor status notes."""
        keys: set[tuple[str, str | None]] = set()
        for cells in self._cells(scenario):
            for c in cells:
                keys.update((k, None) for k, v in c.items() if k not in _ROW_KEYS and _num(v) is not None)
                keys.update((k, "status") for k, v in (c.get("status") or {}).items()
                            if _num(v) is not None)
        return sorted(keys, key=lambda kv: (kv[1] or "", kv[0]))

    def connections(self) -> Series:
        return [max((_num(r.get("connections")) or 0.0) for r in w) for w in self.windows]

    def _window_latency(self, rows: list[dict[str, Any]],
                        hlog: Path) -> dict[tuple[str, str], list[dict[str, float | None]]]:
        if not hlog.is_file():
            return {}
        starts = [float(r.get("t", 0.0)) - float(r.get("dt", 1.0)) for r in rows]
        merged: dict[tuple[str, str, int], Histogram] = {}
        for entry in read_hlog(hlog):
            metric, _, tags = entry.series.partition("{")
            if metric not in _LATENCY.values():
                continue
            scenario = next((kv[9:] for kv in tags.rstrip("}").split(",")
                             if kv.startswith("scenario:")), "")
            key = (scenario, metric, self._window_of[_nearest(starts, entry.start)])
            h = entry.histogram()
            if key in merged:
                merged[key].add(h)
            else:
                merged[key] = h
        out: dict[tuple[str, str], list[dict[str, float | None]]] = {}
        for (scenario, metric, w), h in merged.items():
            cells = out.setdefault((scenario, metric), [{} for _ in self.windows])
            p50, p95, p99 = (v / 1000.0 for v in h.percentiles((50.0, 95.0, 99.0)))
            cells[w] = {"p50": p50, "p95": p95, "p99": p99, "max": h.max / 1000.0}
        return out


def _nearest(sorted_starts: list[float], t: float) -> int:
    i = bisect.bisect_left(sorted_starts, t)
    if i == len(sorted_starts) or (i > 0 and t - sorted_starts[i - 1] < sorted_starts[i] - t):
        return max(i - 1, 0)
    return i


# -- chart specs -----------------------------------------------------------------------------
def _chart(title: str, unit: str, axis: str, series: Iterable[tuple[str, Series, bool]],
           note: str = "") -> dict[str, Any]:
    shown = [s for s in series if any(v is not None for v in s[1])]
    if len(shown) > MAX_SERIES:
        hidden = [name for name, _, _ in shown[MAX_SERIES:]]
        note = (note + " " if note else "") + f"{len(hidden)} more not shown: {', '.join(hidden)}"
        shown = shown[:MAX_SERIES]
    return {"title": title, "unit": unit, "axis": axis, "note": note,
            "series": [{"name": n, "values": [None if v is None else round(v, 4) for v in vals],
                        "dash": dash} for n, vals, dash in shown]}


def _observation_charts(rows: list[dict[str, Any]],
                        axes: dict[str, list[float]]) -> list[dict[str, Any]]:
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(str(row.get("source", "?")), []).append(row)
    charts = []
    for n, (source, srows) in enumerate(sorted(by_source.items())):
        srows.sort(key=lambda r: float(r.get("t", 0.0)))
        k = max(1, math.ceil(len(srows) / MAX_POINTS))
        windows = [srows[i: i + k] for i in range(0, len(srows), k)]
        names = sorted({m for r in srows for m, v in (r.get("values") or {}).items()
                        if _num(v) is not None})
        series: dict[str, Series] = {}
        for m in names:
            vals: Series = []
            for w in windows:
                present = [x for x in (_num((r.get("values") or {}).get(m)) for r in w) if x is not None]
                vals.append(sum(present) / len(present) if present else None)
            series[m] = vals
        # Series that move say more than flat ones: keep those first when capping.
        ordered = sorted(names, key=lambda m: (len({v for v in series[m] if v is not None}) <= 1, m))
        axis = f"obs{n}"
        axes[axis] = [round(float(w[-1].get("t", 0.0)), 3) for w in windows]
        note = f"averaged over {k} samples per point" if k > 1 else ""
        charts.append(_chart(source, "", axis, [(m, series[m], False) for m in ordered], note))
    return charts


def chart_data(tl: Timeline, observations: list[dict[str, Any]]) -> dict[str, Any]:
    """What report.js draws: shared time axes and sections of line charts."""
    axes: dict[str, list[float]] = {"run": tl.t}
    window = f"per {tl.k}s window (percentiles exact from the interval log)" if tl.k > 1 else ""
    latency = [_chart(f"Latency: {sc}", "ms", "run", [
        ("p50", tl.latency(sc, "duration", "p50"), False),
        ("p95", tl.latency(sc, "duration", "p95"), False),
        ("p99", tl.latency(sc, "duration", "p99"), False),
        ("max", tl.latency(sc, "duration", "max"), False),
        ("corrected p99", tl.latency(sc, "latency", "p99"), True),
    ], "http_req_duration; dashed: http_req_latency (from the intended start) "
       + window) for sc in tl.scenarios]
    throughput = [_chart("Requests per second", "/s", "run", [
        *((f"{sc} requests", tl.per_second(sc, "reqs"), False) for sc in tl.scenarios),
        *((f"{sc} failed", tl.per_second(sc, "failed"), True) for sc in tl.scenarios),
    ]), _chart("Iterations per second", "/s", "run", [
        *((f"{sc} iterations", tl.per_second(sc, "iterations"), False) for sc in tl.scenarios),
        *((f"{sc} errors", tl.per_second(sc, "errors"), True) for sc in tl.scenarios),
    ])]
    concurrency_series: list[tuple[str, Series, bool]] = []
    for sc in tl.scenarios:
        concurrency_series.append((f"{sc} VUs / in flight", tl.peak(sc, "vus"), False))
        for key, sub in tl.extra_keys(sc):
            concurrency_series.append((f"{sc} {key}", tl.peak(sc, key, sub), sub is not None))
    concurrency_series.append(("open connections", tl.connections(), True))
    dropped = [_chart("Dropped iterations per second", "/s", "run",
                      [(sc, tl.per_second(sc, "dropped"), False) for sc in tl.scenarios],
                      "iterations due while every in-flight slot was busy (open-loop executors)")]
    return {
        # Observations may start a moment before the load (t slightly below 0).
        "domain": [min([0.0, *(float(r.get("t", 0.0)) for r in observations)]),
                   max([*tl.t, *(float(r.get("t", 0.0)) for r in observations), 1.0])],
        "axes": axes,
        "sections": [
            {"title": "Latency over time", "charts": latency},
            {"title": "Throughput and failures", "charts": throughput},
            {"title": "Concurrency and dropped iterations",
             "charts": [_chart("VUs, agents and connections", "", "run", concurrency_series,
                               "peak per interval" if tl.k == 1 else f"peak per {tl.k}s window"),
                        *dropped]},
            {"title": "Server-side observations", "charts": _observation_charts(observations, axes)},
        ],
    }


def render_report(run_dir: Path) -> str:
    summary = load_json(run_dir / rundir.SUMMARY)
    meta = load_json(run_dir / rundir.META) if (run_dir / rundir.META).is_file() \
        else summary.get("meta") or {}
    rows = read_timeline(run_dir / rundir.TIMELINE) if (run_dir / rundir.TIMELINE).is_file() else []
    obs = read_timeline(run_dir / OBSERVATIONS) if (run_dir / OBSERVATIONS).is_file() else []
    data = chart_data(Timeline(rows, run_dir / rundir.HLOG), obs)
    run = summary.get("run") or {}
    verdict = str(run.get("verdict", "unknown"))
    cls = verdict if verdict in ("passed", "failed", "inconclusive") else "other"
    stopped = f" — stopped: {tables.esc(run['stopped_by'])}" if run.get("stopped_by") else ""
    # "<" is escaped so no string in the data can close the script element.
    payload = scrub_credentials(json.dumps(data, separators=(",", ":"))).replace("<", "\\u003c")
    body = scrub_credentials(
        f"<header><h1>fleetload run {tables.esc(run.get('id', run_dir.name))}"
        f'<span class="verdict {cls}">{tables.esc(verdict.upper())} (exit {tables.esc(run.get("exit_code", "?"))})'
        f"</span></h1><div class=sub>{tables.esc(meta.get('source', ''))} — started "
        f"{tables.esc(meta.get('started_at', ''))}{stopped}</div></header><main>"
        f"{tables.validity(summary)}{tables.kpis(summary)}"
        f"<h2>Thresholds</h2>{tables.thresholds(summary)}"
        '<div id="charts"></div><div id="render-status" class="bad"></div>'
        f"<h2>Scenarios</h2>{tables.scenarios(summary)}{tables.failures(summary)}"
        f"{tables.errors(summary)}"
        f"<h2>Methodology</h2>{tables.methodology(meta)}</main>")
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>fleetload {tables.esc(run.get('id', ''))} — {tables.esc(verdict)}</title>"
            f"<style>{_asset('report.css')}</style></head><body>{body}"
            f'<script type="application/json" id="report-data">{payload}</script>'
            f"<script>{_asset('report.js')}</script>"
            "<footer>fleetload report — self-contained, no network needed</footer></body></html>\n")


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    out = output or run_dir / REPORT
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render_report(run_dir), encoding="utf-8")
    tmp.replace(out)
    return out
