"""``--output dashboard=HOST:PORT``: the live page, its Server-Sent Events,
the charts drawn by a real browser, and the stop button."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import free_port
from tests.conftest import ROOT, StubServer
from tests.outputs.conftest import MIXED, summary_of


class LiveRun:
    def __init__(self, stub: StubServer, out: Path, duration: str) -> None:
        self.out = out
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleetload", "run", str(MIXED), "-e", f"TARGET={stub.url}",
             "-e", f"DUR={duration}", "-o", f"dashboard=127.0.0.1:{port}", "--out", str(out),
             "--quiet", "--allow-inconclusive"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert line == f"fleetload: live dashboard on {self.url}\n", line

    def first_event(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "events", timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            for raw in r:
                line = raw.decode()
                if line.startswith("data: "):
                    data: dict[str, Any] = json.loads(line[6:])
                    return data
        raise AssertionError("no event")

    def token(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as r:
            page = r.read().decode()
        m = re.search(r'data-token="([^"]+)"', page)
        assert m is not None
        return m.group(1)

    def stop(self, token: str | None) -> int:
        headers = {"X-Fleetload-Token": token} if token else {}
        req = urllib.request.Request(self.url + "stop", data=b"", headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def wait(self) -> int:
        return self.proc.wait(60)


@pytest.fixture
def live_run(stub: StubServer, tmp_path: Path) -> Iterator[LiveRun]:
    run = LiveRun(stub, tmp_path / "run", "30s")
    yield run
    if run.proc.poll() is None:
        run.proc.kill()
        run.proc.wait(10)


def test_events_and_the_stop_button(live_run: LiveRun) -> None:
    event = live_run.first_event()
    assert [row[0] for row in event["scenarios"]] == ["flaky", "steady"]
    assert event["finished"] is None
    titles = [s["title"] for s in event["charts"]["sections"]]
    assert titles[:2] == ["Latency over time", "Throughput and failures"]
    for path, status in (("stop", 405), ("nowhere", 404)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(live_run.url + path, timeout=10)
        assert refused.value.code == status
    assert live_run.stop(None) == 403
    assert live_run.stop("not-the-token") == 403
    assert live_run.stop(live_run.token()) == 200
    assert live_run.wait() == 0
    summary = summary_of(live_run.out)
    assert summary["run"]["stopped_by"] == "stopped from the dashboard"
    assert summary["run"]["elapsed"] < 20


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_a_browser_draws_the_charts(stub: StubServer, tmp_path: Path) -> None:
    run = LiveRun(stub, tmp_path / "run", "4s")
    try:
        dom = subprocess.run(
            ["chromium", "--headless", "--disable-gpu", "--no-sandbox",
             f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=3000",
             "--dump-dom", run.url], capture_output=True, text=True, timeout=60, check=False).stdout
        assert run.wait() == 0
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(10)
    updates = re.search(r'data-updates="(\d+)"', dom)
    charts = re.search(r'data-charts="(\d+)"', dom)
    assert updates is not None and int(updates.group(1)) >= 1, dom[-2000:]
    assert charts is not None and int(charts.group(1)) >= 4
    assert 'data-errors="0"' in dom
    assert "<td>steady</td>" in dom and "<td>flaky</td>" in dom


@pytest.mark.parametrize("flag", [("-o", "dashboard=127.0.0.1:{port}"),
                                  ("--dashboard", "127.0.0.1:{port}")])
def test_a_port_in_use_is_one_line(stub: StubServer, tmp_path: Path,
                                   flag: tuple[str, str]) -> None:
    """``--dashboard HOST:PORT`` is the same output as ``-o dashboard=HOST:PORT``."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        p = subprocess.run(
            [sys.executable, "-m", "fleetload", "run", str(MIXED), "-e", f"TARGET={stub.url}",
             "-e", "DUR=1s", flag[0], flag[1].format(port=port), "--out", str(tmp_path / "r"),
             "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
            check=False)
    finally:
        taken.close()
    assert p.returncode == 2
    assert p.stderr.strip() == (f"fleetload: error: --output dashboard: cannot listen on "
                                f"127.0.0.1:{port}: Address already in use")


def test_the_charts_window() -> None:
    """The charts hold the last WINDOW intervals: a scenario seen late is
    null before, one no longer seen in the window is gone, rates are per second."""
    from fleetload.outputs.dashboard_charts import ChartWindow

    def row(t: int, **scenarios: int) -> dict[str, Any]:
        return {"t": float(t), "dt": 0.5, "connections": 3,
                "scenarios": {n: {"reqs": v, "failed": 0, "iterations": v, "dropped": 0,
                                  "vus": 1, "duration": {"p50": 1.0, "p95": 2.0, "p99": 3.5},
                                  "latency": None} for n, v in scenarios.items()}}

    charts = ChartWindow(window=2)
    for r in (row(1, a=5), row(2, a=6), row(3, a=7, b=1), row(4, b=2), row(5, b=3)):
        charts.add_row(r)
    spec = json.loads(charts.to_json())
    assert spec["domain"] == [3.5, 5.0]
    assert spec["axes"]["run"] == [4.0, 5.0]
    [latency] = spec["sections"][0]["charts"]
    assert latency["title"] == "Latency: b"  # a's last point left the window
    assert [s["values"] for s in latency["series"]] == [[1.0] * 2, [2.0] * 2, [3.5] * 2,
                                                        [None] * 2]
    requests = spec["sections"][1]["charts"][0]["series"]
    assert requests[0] == {"name": "b requests", "values": [4.0, 6.0], "dash": False}
    charts.add_row(row(6, a=1, b=1))
    names = [s["name"] for s in json.loads(charts.to_json())["sections"][2]["charts"][0]["series"]]
    assert names == ["a", "b", "open connections"]
    vus = json.loads(charts.to_json())["sections"][2]["charts"][0]["series"][0]["values"]
    assert vus == [None, 1.0]


def test_a_new_interval_wakes_the_event_streams() -> None:
    """The streams sleep on the state's news signal: an interval added on
    another thread (the merging thread) sets the event they wait on, and the
    next wait is on a fresh event."""
    import asyncio
    import threading

    from fleetload.outputs.dashboard_state import DashboardState

    state = DashboardState()
    row = {"t": 1.0, "dt": 1.0, "connections": 0, "scenarios": {}}

    async def main() -> tuple[int, bool]:
        news = state.news.current()
        assert not news.is_set()
        threading.Thread(target=state.add_row, args=(row, None)).start()
        await asyncio.wait_for(news.wait(), 10)  # no polling: only the signal ends this
        return state.version, state.news.current().is_set()

    assert asyncio.run(main()) == (1, False)
