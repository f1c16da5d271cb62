"""End-to-end runs of the real CLI against the stub server (bounded loads)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fleetload.metrics.histogram import Histogram
from fleetload.results.hlog import read_hlog
from tests.conftest import ROOT, run_cli

SCRIPTS = Path(__file__).parent / "scripts"


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def count(summary: dict, key: str) -> float:
    m = summary["metrics"].get(key)
    return m["values"]["count"] if m else 0.0


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_constant_arrival_rate_runs_the_exact_schedule(stub, tmp_path):
    r = run_cli("run", str(SCRIPTS / "arrival.py"), "-e", f"TARGET={stub.url}", "-e", "RATE=50",
                "-e", "DUR=2s", "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 0, r.stderr
    s = summary_of(tmp_path / "run")
    assert count(s, "iterations") == 100
    assert count(s, "http_reqs") == 100
    assert count(s, "http_reqs{scenario:arrivals}") == 100
    assert stub.stats()["/ok"] == 100
    assert count(s, "dropped_iterations") == 0
    sched = s["scenarios"]["arrivals"]["schedule"]
    assert sched["kept"] and sched["scheduled_iterations"] == 100
    # Iterations started on time: the scheduler's lag stays far below the 20 ms spacing.
    assert sched["iteration_lag"]["p99"] < 20
    for key in ("http_req_duration", "http_req_latency", "iteration_lag"):
        assert s["metrics"][key]["values"]["p(99)"] >= 0
    assert s["metrics"]["checks"]["values"]["passes"] == 100
    assert (tmp_path / "run" / "summary.txt").read_text().count("verdict: PASSED") == 1


def test_closed_loop_executors(stub, tmp_path):
    r = run_cli("run", str(SCRIPTS / "closed.py"), "-e", f"TARGET={stub.url}",
                "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 0, r.stderr
    s = summary_of(tmp_path / "run")
    assert count(s, "iterations{scenario:per_vu}") == 20
    assert count(s, "iterations{scenario:shared}") == 10
    assert count(s, "iterations{scenario:ramp_rate}") == 80  # 0->40/s over 2 s + 40/s for 1 s
    constant = count(s, "iterations{scenario:constant}")
    assert 30 <= constant <= 3 * 1.0 / 0.02 + 3  # 3 VUs, ~20 ms per iteration, 1 s
    assert s["metrics"]["vus_max"]["values"]["max"] >= 3
    assert count(s, "iterations{scenario:ramping}") > 0
    assert s["metrics"]["custom_ms"]["values"]["avg"] == 12.5
    assert s["metrics"]["vu_seen"]["values"]["count"] == constant
    assert stub.stats()["/ok"] == 20 + 10 + 80


def test_dropped_iterations_when_in_flight_cap_is_reached(stub, tmp_path):
    # 50/s for 1 s, each taking 500 ms, at most 5 in flight: only ~10 can start.
    r = run_cli("run", str(SCRIPTS / "arrival.py"), "-e", f"TARGET={stub.url}", "-e", "RATE=50",
                "-e", "DUR=1s", "-e", "CAP=5", "-e", "REQ_PATH=/delay?ms=500", "--out",
                str(tmp_path / "run"), "--quiet")
    # The schedule was not delivered: the run cannot pass, it is inconclusive.
    assert r.code == 3, r.stderr
    s = summary_of(tmp_path / "run")
    started = count(s, "iterations")
    dropped = count(s, "dropped_iterations{scenario:arrivals}")
    assert started + dropped == 50
    assert dropped >= 30
    assert not s["scenarios"]["arrivals"]["schedule"]["kept"]
    text = (tmp_path / "run" / "summary.txt").read_text()
    assert "NOT KEPT" in text
    assert s["run"]["verdict"] == "inconclusive"
    reasons = s["run"]["validity"]["reasons"]
    assert reasons[0] == (f"scenario arrivals: {dropped:,.0f} of 50 scheduled iterations dropped "
                          "(in-flight cap 5 reached)")
    assert reasons[0] in text
    assert "verdict: INCONCLUSIVE (exit 3)" in text


def test_workers_split_exactly_and_merge_exactly(stub, tmp_path):
    log = tmp_path / "vus.log"
    r = run_cli("run", str(SCRIPTS / "arrival.py"), "-e", f"TARGET={stub.url}", "-e", "RATE=100",
                "-e", "DUR=2s", "-e", f"VU_LOG={log}", "--workers", "2",
                "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 0, r.stderr
    s = summary_of(tmp_path / "run")
    assert count(s, "iterations") == 200
    assert stub.stats()["/ok"] == 200
    rows = [line.split() for line in log.read_text().splitlines()]
    pids = {row[0] for row in rows}
    assert len(pids) == 2
    # VU ids never overlap between workers; scenario iteration numbers are unique.
    by_pid = {pid: {row[1] for row in rows if row[0] == pid} for pid in pids}
    a, b = by_pid.values()
    assert not a & b
    assert len({row[2] for row in rows}) == 200
    # The interval log holds every sample once: rebuilding from it gives the
    # summary's count and percentiles.
    whole = Histogram()
    for entry in read_hlog(tmp_path / "run" / "intervals.hlog"):
        if entry.series.startswith("http_req_duration{"):
            whole.add(entry.histogram())
    values = s["metrics"]["http_req_duration"]["values"]
    assert whole.count == 200
    assert abs(whole.percentile(99) / 1000 - values["p(99)"]) <= max(0.002 * values["p(99)"], 0.002)


def test_error_classes_become_tagged_failures(stub, tmp_path):
    r = run_cli("run", str(SCRIPTS / "errors.py"), "-e", f"TARGET={stub.url}", "-e",
                f"CLOSED=http://127.0.0.1:{closed_port()}", "--out", str(tmp_path / "run"),
                "--quiet")
    s = summary_of(tmp_path / "run")
    failed = [t for t in s["thresholds"] if not t["ok"]]
    assert r.code == 0, (failed, r.stderr)


def test_thresholds_failing_exit_99_and_one_liner(stub, tmp_path):
    r = run_cli("run", "--url", stub.url + "/status/500", "--rate", "20", "--duration", "1s",
                "--threshold", "http_req_failed:rate<0.01", "--out", str(tmp_path / "run"),
                "--quiet")
    assert r.code == 99
    s = summary_of(tmp_path / "run")
    assert s["run"]["verdict"] == "failed"
    assert s["metrics"]["http_req_failed"]["thresholds"]["rate<0.01"]["ok"] is False
    r = run_cli("run", "--url", stub.url + "/ok", "--vus", "2", "--duration", "1s",
                "--threshold", "http_req_duration:p(95)<5000", "--out", str(tmp_path / "ok"),
                "--quiet")
    assert r.code == 0, r.stderr
    assert summary_of(tmp_path / "ok")["metrics"]["http_reqs"]["values"]["count"] > 0


def test_abort_on_fail_stops_early(stub, tmp_path):
    started = time.monotonic()
    r = run_cli("run", str(SCRIPTS / "abort.py"), "-e", f"TARGET={stub.url}",
                "--out", str(tmp_path / "run"), "--quiet")
    assert r.code == 99
    assert time.monotonic() - started < 20
    s = summary_of(tmp_path / "run")
    assert "abort_on_fail" in s["run"]["stopped_by"]


def test_bad_input_exits_2_with_one_line(stub, tmp_path):
    cases = [
        (("run", str(tmp_path / "missing.py")), "script not found"),
        (("run", "--url", stub.url, "--rate", "5", "--duration", "5 minutes"), "invalid --duration"),
        (("run", "--url", stub.url, "--rate", "5", "--duration", "1s", "--threshold", "http_req_duration:p95<1"),
         "malformed threshold"),
        (("run", "--url", stub.url, "--rate", "5", "--duration", "1s", "--threshold", "http_req_duration{scenario}:p(95)<1"),
         "invalid tag filter"),
        (("run", "--url", f"http://127.0.0.1:{closed_port()}/", "--rate", "5", "--duration", "1s"),
         "unreachable"),
        (("run", "--url", stub.url),  "--duration"),
    ]
    bad_exec = tmp_path / "bad_exec.py"
    bad_exec.write_text("scenarios = {'x': {'executor': 'constant-velocity', 'exec': 'x'}}\n"
                        "async def x(vu):\n    pass\n")
    cases.append((("run", str(bad_exec)), "unknown executor 'constant-velocity'"))
    for args, expected in cases:
        r = run_cli(*args, "--out", str(tmp_path / "never"))
        assert r.code == 2, (args, r.stderr)
        lines = [line for line in r.stderr.strip().splitlines() if line]
        assert len(lines) == 1 and expected in lines[0], (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "never" / "summary.json").exists()


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([sys.executable, "-m", "fleetload", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_stops_gracefully_and_writes_results(stub, tmp_path):
    out = tmp_path / "run"
    p = _spawn(["run", str(SCRIPTS / "long.py"), "-e", f"TARGET={stub.url}", "--out", str(out),
                "--stats-interval", "1s"])
    time.sleep(3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    s = summary_of(out)
    assert s["run"]["verdict"] == "interrupted"
    assert 30 <= count(s, "iterations") <= 90
    assert "req/s" in err  # the live line ran


def test_second_ctrl_c_aborts_at_once_and_still_writes(stub, tmp_path):
    out = tmp_path / "run"
    p = _spawn(["run", str(SCRIPTS / "long.py"), "-e", f"TARGET={stub.url}", "-e",
                "REQ_PATH=/stall", "--out", str(out), "--quiet"])
    time.sleep(2.5)
    p.send_signal(signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=30)
    assert time.monotonic() - started < 10  # not the 30 s graceful stop
    assert p.returncode == 130
    s = summary_of(out)
    assert count(s, "interrupted_iterations") >= 20


def test_script_parameters_from_the_command_line(tmp_path):
    script = str(SCRIPTS / "params.py")
    r = run_cli("run", script, "--directory", "http://x", "--max-names", "3", "--over=2m",
                "--rate", "7", "--quiet", "--out", str(tmp_path / "a"))
    assert r.code == 0, r.stderr
    assert "PARAMS http://x 3 120.0 7.0" in r.stdout
    assert "ENDPOINTS []" in r.stdout
    r = run_cli("run", script, "--directory", "u", "--endpoint", "a=1", "--endpoint", "b=2",
                "--quiet", "--out", str(tmp_path / "c"))
    assert "ENDPOINTS ['a=1', 'b=2']" in r.stdout, r.stderr
    for args, expected in [((), "--directory is required"),
                           (("--directory", "u", "--bogus", "1"), "unknown option(s) --bogus"),
                           (("--directory", "u", "--max-names", "x"), "expected a whole number"),
                           (("--directory", "u", "--rate", "1", "--max-names", "1", "--max-names", "2"),
                            "--max-names given more than once")]:
        r = run_cli("run", script, *args, "--quiet", "--out", str(tmp_path / "b"))
        assert r.code == 2 and expected in r.stderr, r.stderr


def test_graceful_stop_and_ramp_down(stub, tmp_path):
    # Iterations take 1.5 s. With 5 s of grace they finish after the end of
    # their scenario (or after the ramp-down); with 0.2 s they are cut off.
    for grace, finished, interrupted in (("5s", 2, 0), ("0.2s", 0, 2)):
        out = tmp_path / grace
        r = run_cli("run", str(SCRIPTS / "graceful.py"), "-e", f"TARGET={stub.url}",
                    "-e", f"GRACE={grace}", "--out", str(out), "--quiet")
        assert r.code == 0, r.stderr
        s = summary_of(out)
        for sc in ("stop", "ramp_down"):
            assert count(s, f"iterations{{scenario:{sc}}}") == finished, (grace, sc)
            assert count(s, f"interrupted_iterations{{scenario:{sc}}}") == interrupted, (grace, sc)
