"""The HTML report: self-contained, and its charts draw in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed (apt-get install -y chromium, or "
                "scripts/install-system-deps.sh): the report is not rendered")


def render(report: Path, tmp_path: Path) -> tuple[str, str]:
    """The DOM after the report's scripts ran, and the browser's console log."""
    p = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr",
         "--v=0", "--window-size=1280,2000", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, p.stderr


def status(dom: str) -> dict[str, int]:
    m = re.search(r'<div id="render-status"[^>]*>', dom)
    assert m, "no render-status marker"
    return {k: int(v) for k, v in re.findall(r'data-(charts|points|errors)="(\d+)"', m.group(0))}


def console_errors(log: str) -> list[str]:
    """The report logs nothing when all is well, so any console line is an error
    (console.error shows as INFO:CONSOLE here; uncaught exceptions too)."""
    return [line for line in log.splitlines() if ":CONSOLE" in line]


def test_run_report_renders_charts_without_errors(fast_run, tmp_path):
    report = fast_run.path / "report.html"
    assert report.is_file()
    html = report.read_text()
    # Self-contained: nothing is fetched when it is opened.
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', html)
    dom, log = render(report, tmp_path)
    s = status(dom)
    assert s["errors"] == 0 and console_errors(log) == [], log[-2000:]
    # 2 latency charts, requests/s, iterations/s, concurrency, dropped.
    assert s["charts"] == 6 and s["points"] > 50
    assert 'data-rendered="6"' in dom
    assert dom.count("<path") >= 10
    for text in ("Latency: api", "Latency: browse", "Requests per second", "p(95)&lt;2000",
                 "Methodology", "AMD" if "AMD" in html else "host cpu model"):
        assert text in dom


def test_report_draws_agents_and_server_observations(fast_run, copy_run, tmp_path):
    run = copy_run(fast_run)
    timeline = run / "timeline.jsonl"
    rows = [json.loads(line) for line in timeline.read_text().splitlines()]
    for r in rows:
        r["scenarios"]["browse"]["agents"] = 100 * r["i"]
    timeline.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with (run / "observations.jsonl").open("w") as f:
        for t in range(4):
            f.write(json.dumps({"t": t + 0.01, "source": "postgres",
                                "values": {"connections_active": 5 + t, "tps": 100.0 * t}}) + "\n")
            f.write(json.dumps({"t": t + 0.02, "source": "prometheus:http://127.0.0.1:9/metrics",
                                "values": {f"m{j}": j * t for j in range(12)}}) + "\n")
    out = tmp_path / "elsewhere" / "r.html"
    r = run_cli("report", str(run), "-o", str(out))
    assert r.code == 0, r.stderr
    dom, log = render(out, tmp_path)
    s = status(dom)
    assert s["errors"] == 0 and console_errors(log) == [], log[-2000:]
    assert s["charts"] == 8  # + one chart per observation source
    assert "browse agents" in dom and "Server-side observations" in dom
    assert "prometheus:http://127.0.0.1:9/metrics" in dom
    assert "4 more not shown" in dom  # 12 series, 8 drawn (one is flat: it goes last)


def test_long_runs_are_windowed_with_exact_percentiles(tmp_path):
    """1500 one-second intervals become 750 two-second windows; a window's p99
    comes from its merged histograms (not an average of per-second p99s)."""
    from fleetload.metrics.histogram import Binned
    from fleetload.report.html import MAX_POINTS, Timeline
    from fleetload.results.hlog import HlogWriter

    n = 1500
    hlog = HlogWriter(tmp_path / "intervals.hlog", 0.0)
    rows = []
    key = ("http_req_duration", (("name", "x"), ("scenario", "s")))
    for i in range(n):
        # Even seconds: 100 requests of 1 ms; odd seconds: 1 request of 100 ms.
        samples = [0.001] * 100 if i % 2 == 0 else [0.1]
        hlog.write_interval(float(i), float(i + 1), {key: Binned.from_seconds(samples)})
        rows.append({"i": i, "t": i + 1.0, "dt": 1.0, "connections": 1,
                     "scenarios": {"s": {"reqs": len(samples), "failed": 0, "iterations": 1,
                                         "vus": i % 7, "duration": {"p99": samples[0] * 1000}}}})
    hlog.close()
    tl = Timeline(rows, tmp_path / "intervals.hlog")
    assert tl.k == 3 and len(tl.t) == n // 3 <= MAX_POINTS
    p99 = tl.latency("s", "duration", "p99")
    reqs = tl.per_second("s", "reqs")
    assert len(p99) == len(reqs) == n // 3
    # Window 0 = seconds 0, 1, 2: 200 requests of 1 ms and one of 100 ms: p99 is 1 ms.
    assert p99[0] is not None and abs(p99[0] - 1.0) < 0.01
    assert reqs[0] == (100 + 1 + 100) / 3
    assert tl.peak("s", "vus")[0] == 2
