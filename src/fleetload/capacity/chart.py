"""The ceiling chart: one self-contained HTML file with inline SVG (no scripts,
no external assets), so it opens anywhere and can be attached to a ticket.

Two panels share the x axis, offered rate (log scale: the steps are
geometric): latency p50/p95/p99 of the measured window (log scale), and
achieved against offered throughput with the y = x line a target that keeps
up stays on. Points are coloured by the step's verdict; the ceiling and the
first breaking rate are marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

W, H = 760, 300
ML, MR, MT, MB = 70, 20, 30, 45
COLORS = {"p50": "#2b8a3e", "p95": "#e67700", "p99": "#c92a2a"}
VERDICT = {"ok": "#2b8a3e", "breaks": "#c92a2a", "generator-bound": "#7048e8",
           "node-lost": "#e67700"}


class _Axis:
    def __init__(self, lo: float, hi: float, px_lo: float, px_hi: float, log: bool) -> None:
        if log:
            lo, hi = max(lo, 1e-6), max(hi, lo * 1.01)
            lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
        elif hi <= lo:
            hi = lo + 1.0
        self.lo, self.hi, self.a, self.b, self.log = lo, hi, px_lo, px_hi, log

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, self.lo)
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return self.a + f * (self.b - self.a)

    def ticks(self) -> list[float]:
        if self.log:
            out: list[float] = []
            e = math.floor(math.log10(self.lo))
            while 10 ** e <= self.hi * 1.0001:
                for m in (1, 2, 5):
                    v = m * 10 ** e
                    if self.lo <= v <= self.hi * 1.0001:
                        out.append(float(v))
                e += 1
            return out
        step = 10 ** math.floor(math.log10((self.hi - self.lo) / 4 or 1))
        while (self.hi - self.lo) / step > 6:
            step *= 2
        start = math.ceil(self.lo / step) * step
        return [start + i * step for i in range(int((self.hi - start) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if v < 1e4 else f"{v:.0e}"


def _panel(title: str, x: _Axis, y: _Axis, series: Sequence[tuple[str, str, list[tuple[float, float]]]],
           points: list[tuple[float, float, str, str]], marks: list[tuple[float, str, str]],
           hlines: list[tuple[float, str]], ylabel: str, diagonal: bool = False) -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">',
           f'<text x="{ML}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" fill="none" '
           'stroke="#999"/>']
    for t in x.ticks():
        px = x(t)
        out.append(f'<line x1="{px:.1f}" y1="{MT}" x2="{px:.1f}" y2="{H - MB}" stroke="#eee"/>'
                   f'<text x="{px:.1f}" y="{H - MB + 14}" text-anchor="middle">{_fmt(t)}</text>')
    for t in y.ticks():
        py = y(t)
        out.append(f'<line x1="{ML}" y1="{py:.1f}" x2="{W - MR}" y2="{py:.1f}" stroke="#eee"/>'
                   f'<text x="{ML - 4}" y="{py + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{(ML + W - MR) / 2}" y="{H - 8}" text-anchor="middle">'
               'offered rate (iterations/s)</text>')
    out.append(f'<text x="14" y="{(MT + H - MB) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(MT + H - MB) / 2})">{escape(ylabel)}</text>')
    if diagonal:
        lo, hi = max(x.lo, y.lo), min(x.hi, y.hi)
        out.append(f'<line x1="{x(lo):.1f}" y1="{y(lo):.1f}" x2="{x(hi):.1f}" y2="{y(hi):.1f}" '
                   'stroke="#aaa" stroke-dasharray="4 3"/>')
    for value, label in hlines:
        py = y(value)
        out.append(f'<line x1="{ML}" y1="{py:.1f}" x2="{W - MR}" y2="{py:.1f}" stroke="#c92a2a" '
                   f'stroke-dasharray="6 3"/><text x="{W - MR - 4}" y="{py - 4:.1f}" '
                   f'text-anchor="end" fill="#c92a2a">{escape(label)}</text>')
    for value, label, color in marks:
        px = x(value)
        out.append(f'<line x1="{px:.1f}" y1="{MT}" x2="{px:.1f}" y2="{H - MB}" stroke="{color}" '
                   f'stroke-width="1.5"/><text x="{px + 3:.1f}" y="{MT + 12}" fill="{color}">'
                   f'{escape(label)}</text>')
    legend_x = ML + 8
    for name, color, pts in series:
        pts = sorted(pts)
        if pts:
            d = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(f'<rect x="{legend_x}" y="{MT + 6}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{legend_x + 14}" y="{MT + 15}">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    for a, b, color, tip in points:
        out.append(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="4" fill="{color}">'
                   f'<title>{escape(tip)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def render(report: dict[str, Any]) -> str:
    """``report`` is the content of ``ceiling.json``."""
    steps = report["steps"]
    rates = [s["offered_rate"] for s in steps] or [1.0]
    x = _Axis(min(rates) / 1.2, max(rates) * 1.2, ML, W - MR, log=True)
    lat: dict[str, list[tuple[float, float]]] = {k: [] for k in COLORS}
    pts: list[tuple[float, float, str, str]] = []
    for s in steps:
        if s["latency_ms"]:
            for k in COLORS:
                lat[k].append((s["offered_rate"], s["latency_ms"][k]))
            tip = (f"step {s['index']}: {s['offered_rate']:g}/s {s['verdict']}, "
                   f"p99 {s['latency_ms']['p99']:.1f} ms")
            pts.append((s["offered_rate"], s["latency_ms"]["p99"],
                        VERDICT.get(s["verdict"], "#000"), tip))
    all_lat = [v for series in lat.values() for _, v in series] or [1.0]
    hlines = [(float(sl["threshold"]), f"SLO {sl['slo']}") for sl in report.get("slos", [])
              if sl.get("latency_line")]
    y1 = _Axis(min(all_lat + [h for h, _ in hlines]) / 1.5,
               max(all_lat + [h for h, _ in hlines]) * 1.5, H - MB, MT, log=True)
    marks = []
    if report.get("ceiling_rate"):
        # Without a break the highest good step is a lower bound, not the ceiling.
        label = ("no break up to" if report.get("ceiling_is_lower_bound") else "ceiling")
        marks.append((report["ceiling_rate"], f"{label} {report['ceiling_rate']:g}/s", "#2b8a3e"))
    if report.get("first_bad_rate"):
        marks.append((report["first_bad_rate"], f"breaks {report['first_bad_rate']:g}/s", "#c92a2a"))
    if report.get("generator_bound_rate"):
        marks.append((report["generator_bound_rate"], "generator-bound", "#7048e8"))
    p1 = _panel("Latency (measured window) vs offered rate", x, y1,
                [(k, c, lat[k]) for k, c in COLORS.items()], pts, marks, hlines, "ms (log)")
    ach = [(s["offered_rate"], max(s["achieved_iterations"], 1e-3)) for s in steps]
    tops = [v for _, v in ach] + rates
    y2 = _Axis(min(tops) / 1.2, max(tops) * 1.2, H - MB, MT, log=True)
    p2 = _panel("Achieved vs offered throughput", x, y2, [("achieved iterations/s", "#1971c2", ach)],
                [(a, b, VERDICT.get(s["verdict"], "#000"),
                  f"step {s['index']}: achieved {b:.1f}/s of {a:g}/s")
                 for (a, b), s in zip(ach, steps, strict=True)],
                marks, [], "iterations/s (log)", diagonal=True)
    rows = "".join(
        f"<tr><td>{s['index']}</td><td>{s['offered_rate']:g}</td>"
        f"<td>{s['achieved_rps']:.1f}</td>"
        + "".join(f"<td>{(s['latency_ms'] or {}).get(k, float('nan')):.1f}</td>"
                  for k in ("p50", "p95", "p99"))
        + f"<td>{s['error_rate']:.2%}</td><td>{s['dropped']:.0f}</td>"
        f"<td style=\"color:{VERDICT.get(s['verdict'], '#000')}\">{escape(s['verdict'])}</td></tr>"
        for s in steps)
    summary = "".join(f"<p>{escape(line)}</p>" for line in report.get("headline", []))
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>fleetload ceiling</title>"
        "<style>body{font-family:sans-serif;margin:20px;max-width:800px}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;"
        "padding:3px 6px;text-align:right}</style></head><body>"
        f"<h2>Ceiling: {escape(str(report.get('script', '')))}</h2>{summary}{p1}<br>{p2}"
        "<h3>Steps</h3><table><tr><th>#</th><th>offered/s</th><th>achieved req/s</th>"
        "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>errors</th><th>dropped</th>"
        f"<th>verdict</th></tr>{rows}</table></body></html>\n")
