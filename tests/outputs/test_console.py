"""The live console table, rendered from recorded timeline rows (no terminal)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from fleetload.outputs.console import TableState, live_output
from fleetload.outputs.console_table import ConsoleTable, render
from fleetload.outputs.live import LiveLine
from tests.conftest import ROOT, StubServer
from tests.outputs.conftest import MIXED

# Two seconds of a run, as timeline.jsonl recorded them.
ROWS = [json.loads(line) for line in (
    '{"i":0,"t":1.0,"dt":1.0,"scenarios":{"api":{"reqs":98.0,"failed":3,"iterations":98.0,'
    '"dropped":2.0,"errors":0,"vus":4.0,"vus_max":50.0,"checks_failed":3,'
    '"fail_reasons":{"503 Service Unavailable":2.0,"timeout":1.0},'
    '"duration":{"p50":2.1,"p95":3.72,"p99":5.35,"max":5.4,"avg":2.3},'
    '"latency":{"p50":2.8,"p95":6.0,"p99":7.8,"max":7.8,"avg":3.2}},'
    '"agents":{"reqs":0,"failed":0,"iterations":12.0,"dropped":0,"errors":0,"vus":12.0,'
    '"vus_max":12.0,"checks_failed":0,"status":{"regs_active":12.0,"streams_open":3.0}}},'
    '"connections":5.0,"behind":{"api":0.0},"cpu":0.1}',
    '{"i":1,"t":2.0,"dt":1.0,"scenarios":{"api":{"reqs":100.0,"failed":1,"iterations":100.0,'
    '"dropped":0,"errors":0,"vus":3.0,"vus_max":50.0,"checks_failed":1,'
    '"fail_reasons":{"503 Service Unavailable":1.0},'
    '"duration":{"p50":2.0,"p95":3.5,"p99":4.9,"max":5.0,"avg":2.2},'
    '"latency":{"p50":2.5,"p95":5.5,"p99":250.25,"max":260.0,"avg":3.0}},'
    '"agents":{"reqs":0,"failed":0,"iterations":10.0,"dropped":0,"errors":0,"vus":12.0,'
    '"vus_max":12.0,"checks_failed":0,"status":{"regs_active":12.0,"streams_open":3.0}}},'
    '"connections":5.0,"behind":{"api":0.25},"cpu":0.1}',
)]


def _text(renderable: Any) -> str:
    buf = io.StringIO()
    Console(file=buf, width=140, color_system=None).print(renderable)
    return buf.getvalue()


def _cells(text: str, scenario: str) -> list[str]:
    [line] = [x for x in text.splitlines() if x.startswith(scenario + " ")]
    return line.split()


def test_the_table_of_a_recorded_run() -> None:
    state = TableState(planned=10.0)
    state.add_row(ROWS[0], scheduled=100.0, status_text={"agents": "regs: 12 active"})
    state.add_row(ROWS[1], scheduled=100.0)
    text = _text(render(state))
    assert text.splitlines()[0].split() == ["scenario", "rate", "p95", "p99", "corrected",
                                            "failed", "dropped", "in", "flight"]
    # Failures so far: 4 of 198 requests, the top reason 3 of the 4.
    assert _cells(text, "api") == ["api", "100", "req/s", "3.5ms", "250.2ms", "2.02%", "503",
                                   "Service", "Unavailable", "(75%)", "2", "3"]
    assert _cells(text, "agents") == ["agents", "10", "it/s", "-", "-", "-", "0", "12"]
    assert "2s / 10s  110 it/s of 100 scheduled  BEHIND SCHEDULE by 250ms" in text
    assert "  agents: regs: 12 active" in text


def test_the_output_draws_on_its_stream() -> None:
    out = io.StringIO()
    table = ConsoleTable(out=out, formatters={"agents": lambda s: f"streams {s['streams_open']:.0f}"})
    table.state.planned = 10.0
    for row in ROWS:
        table.add_interval(_interval(row))
    table.stop(None)
    text = out.getvalue()
    assert "api" in text and "agents: streams 3" in text


def test_a_pipe_gets_the_plain_line() -> None:
    assert isinstance(live_output(every=5.0, out=io.StringIO(), quiet=False, formatters={}),
                      LiveLine)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_the_table() -> None:
    assert isinstance(live_output(every=5.0, out=_Tty(), quiet=False, formatters={}),
                      ConsoleTable)
    assert isinstance(live_output(every=5.0, out=_Tty(), quiet=True, formatters={}), LiveLine)


def _interval(row: dict[str, Any]) -> Any:
    from fleetload.metrics.aggregate import Aggregate
    from fleetload.metrics.snapshot import IntervalSnapshot
    from fleetload.outputs.base import Interval

    return Interval(IntervalSnapshot(row["i"], row["t"] - row["dt"], row["t"]), Aggregate(),
                    row, 100.0)


def test_a_run_on_a_terminal_shows_the_table(stub: StubServer, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="120")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetload", "run", str(MIXED), "-e", f"TARGET={stub.url}",
         "-e", "DUR=2s", "--out", str(tmp_path / "run"), "--allow-inconclusive"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the run is over
            break
        if not chunk:
            break
        raw += chunk
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    assert proc.wait(30) == 0
    os.close(master)
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", raw).decode("utf-8", "replace")
    assert "scenario      rate    p95  p99 corrected  failed" in text
    assert "503 Service Unavailable (100%)" in text
    assert "2s / 2s" in text
    assert "req/s | in flight" not in text  # not the plain line
    assert "verdict" in stdout
