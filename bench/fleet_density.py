"""Fleet density: RSS per agent, CPU per heartbeat and schedule-keeping of one
fleetload process.

    PYTHONPATH=src .venv/bin/python bench/fleet_density.py            # all cases, 60 s interval
    PYTHONPATH=src .venv/bin/python bench/fleet_density.py --case http:100000:100 --repeat 2

A case is ``transport:agents[:ramp seconds]`` (default ramp: agents /
``--ramp-rate``, 1,000 registrations/s). HTTP agents heartbeat against an nginx
sink (registration answers 201 with a JSON id, everything else 200) pinned to
CPU 1; gRPC agents against the reference target with an in-memory database
(``sqlite://:memory:``, pushes off, no renewal workers), pinned to CPU 1.
fleetload runs ``fleet`` pinned to CPU 0, one worker, for ramp + 5 s + one
interval + ``--steady`` (default two intervals). The process is sampled every
0.5 s from /proc: RSS (VmRSS), CPU (utime + stime).

Steady window = from the ramp's end (``ramp_done_s`` of the summary) + one
interval to the end of the run - 2 s. RSS per agent = (peak RSS in the steady
window - the same of a 100-agent run) / N. CPU per heartbeat = CPU seconds in
the steady window / heartbeats sent in it (from the run's timeline). Tick
lateness: ``tick_lateness_steady`` (ticks due from the ramp's end + one
interval) and ``tick_lateness_ramp`` of the summary. Results are printed as a
Markdown table and written to bench/out/fleet_density.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from fleetplane.launch import start_target  # noqa: E402
from tests.support.nginx import Nginx  # noqa: E402

SINK = """default_type application/json;
        location = /api/v1/agents { return 201 '{"id":"ag-$request_id","status":"Active"}'; }
        location / { return 200 '{"status":"heartbeat_recorded"}'; }"""
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc(pid: int) -> tuple[float, float]:
    """(rss MiB, cpu seconds) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / TICK
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * PAGE / 2**20
    return rss, cpu


def start_sink(cpu: int) -> Nginx:
    return Nginx(tempfile.mkdtemp(prefix="fleet-sink-"), SINK, cpu=cpu, listen="backlog=4096",
                 main="worker_rlimit_nofile 65536;", connections=16384,
                 keepalive_requests=10_000_000, keepalive_timeout="300s").start()


def run_case(transport: str, agents: int, interval: float, ramp: float, steady: float,
             url: str, grpc_target: str | None, token: str, out: Path,
             tag: str = "") -> dict[str, Any]:
    """One fleet run: ramp, one interval of settling, then ``steady`` seconds."""
    duration = ramp + 5 + interval + steady + 3
    summary = out / f"summary-{transport}-{agents}{tag}.json"
    argv = ["taskset", "-c", "0", sys.executable, "-c",
            "from fleetload.cli.run import run_cmd; run_cmd(prog_name='fleetload')",
            "fleet", "--transport", transport, "--agents", str(agents),
            "--ramp", f"{ramp}s", "--duration", f"{duration}s",
            "--heartbeat-interval", f"{interval}s", "--registration-concurrency", "64",
            "--no-tasks", "--no-checks", "--no-inventory", "--target", url, "--token", token,
            "--results-dir", str(out / "runs"), "--summary-export", str(summary),
            "--quiet", "--no-preflight", "--rtt-p95", "100000"]
    if grpc_target:
        argv += ["--grpc-target", grpc_target]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    samples: list[tuple[float, float, float]] = []  # (wall time, rss MiB, cpu s)
    while proc.poll() is None:
        try:
            rss, cpu = _proc(proc.pid)
            samples.append((time.time(), rss, cpu))
        except (OSError, IndexError):
            pass
        time.sleep(0.5)
    err = proc.stderr.read() if proc.stderr else ""
    data = json.loads(summary.read_text())
    run_dir = out / "runs" / data["run"]["id"]
    rows = [json.loads(x) for x in (run_dir / "timeline.jsonl").read_text().splitlines() if x]
    t0 = datetime.fromisoformat(data["run"]["started_at"].replace("Z", "+00:00")).timestamp()
    fleet = data["scenarios"]["fleet"]["fleet"]
    ramp_done = fleet.get("ramp_done_s")
    # Steady window (run time): the ramp's end + one interval, to the end of the
    # run minus 2 s (the stop). No steady window if the ramp never completed.
    w0 = (ramp_done + interval) if ramp_done is not None else float("nan")
    w1 = data["run"]["elapsed"] - 2.0
    win = [s for s in samples if w0 <= s[0] - t0 <= w1]
    cpu_s = win[-1][2] - win[0][2] if len(win) > 1 else float("nan")
    span = win[-1][0] - win[0][0] if len(win) > 1 else float("nan")

    def hb_at(t: float) -> float:
        best = 0.0
        for r in rows:
            st = r["scenarios"].get("fleet", {}).get("status")
            if st and r["t"] <= t:
                best = st["hb_sent"]
        return best

    hb = hb_at(win[-1][0] - t0) - hb_at(win[0][0] - t0) if len(win) > 1 else 0.0
    steady_l = fleet.get("tick_lateness_steady") or {}
    ramp_l = fleet.get("tick_lateness_ramp") or {}
    return {
        "transport": transport, "agents": agents, "interval_s": interval, "ramp_s": ramp,
        "exit": proc.returncode, "run_id": data["run"]["id"], "ramp_done_s": ramp_done,
        "ramp_pending_end": fleet.get("ramp_pending"),
        "peak_rss_mib": max(s[1] for s in samples),
        "steady_rss_mib": max(s[1] for s in win) if win else None,
        "window_s": span, "cpu_s": cpu_s, "heartbeats_in_window": hb,
        "cpu_share": cpu_s / span if span else None,
        "cpu_us_per_heartbeat": 1e6 * cpu_s / hb if hb else None,
        "regs_active": fleet["registrations"]["active"], "streams_open_end": fleet["streams_open"],
        "hb_sent": fleet["heartbeats"]["sent"], "hb_failed": fleet["heartbeats"]["failed"],
        "rtt_p99_ms": (fleet["heartbeat_rtt"] or {}).get("p99"),
        "steady_ticks": steady_l.get("count"),
        "steady_lateness_p50_ms": steady_l.get("p50"),
        "steady_lateness_p99_ms": steady_l.get("p99"),
        "steady_lateness_max_ms": steady_l.get("max"),
        "ramp_lateness_p99_ms": ramp_l.get("p99"),
        "ramp_lateness_max_ms": ramp_l.get("max"),
        "tick_lateness_p99_ms": (fleet["tick_lateness"] or {}).get("p99"),
        "errors": fleet["errors"][:3], "stderr_tail": err[-500:] if proc.returncode not in (0, 99) else "",
    }


def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None or v != v else format(v, fmt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", action="append",
                    help="transport:agents[:ramp seconds] (default: http:10000 http:50000 "
                         "http:100000 grpc:20000:120); default ramp: agents / --ramp-rate")
    ap.add_argument("--interval", type=float, default=60.0, help="heartbeat interval, s")
    ap.add_argument("--steady", type=float, default=None,
                    help="steady window after ramp end + one interval, s (default 2 intervals)")
    ap.add_argument("--ramp-rate", type=float, default=1000.0, help="registrations/s")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case")
    ap.add_argument("--grpc-db", default="sqlite://:memory:")
    ap.add_argument("--no-base", action="store_true", help="skip the 100-agent baseline runs")
    args = ap.parse_args()
    steady = args.steady if args.steady is not None else 2 * args.interval
    cases = args.case or ["http:10000", "http:50000", "http:100000", "grpc:20000:120"]
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    sink = start_sink(cpu=1)
    sink_url = sink.url
    target = None
    try:
        base: dict[str, float | None] = {}
        for transport in sorted({c.split(":")[0] for c in cases}):
            if transport == "grpc":
                target = start_target(args.grpc_db, pool_size=4, cpu=1, extra_args=[
                    "--renewal-workers", "0", "--push-task-prob", "0", "--push-check-prob", "0",
                    "--push-inventory-prob", "0",
                    "--heartbeat-interval-ms", str(int(args.interval * 1000))])
            url = target.url if transport == "grpc" and target else sink_url
            gt = target.grpc_target if transport == "grpc" and target else None
            base[transport] = None
            if not args.no_base:
                base[transport] = run_case(transport, 100, args.interval, 1, 10, url, gt,
                                           "fleetload-dev-key", out, "-base")["steady_rss_mib"]
            for case in cases:
                parts = case.split(":")
                tr, n = parts[0], int(parts[1])
                if tr != transport:
                    continue
                ramp = float(parts[2]) if len(parts) > 2 else max(5.0, n / args.ramp_rate)
                for k in range(args.repeat):
                    r = run_case(tr, n, args.interval, ramp, steady, url, gt,
                                 "fleetload-dev-key", out, f"-{k}")
                    r["baseline_rss_mib"] = base[transport]
                    b = base[transport]
                    r["rss_kib_per_agent"] = (1024 * (r["steady_rss_mib"] - b) / n
                                              if b is not None and r["steady_rss_mib"] else None)
                    results.append(r)
                    print(json.dumps(r), flush=True)
            if target is not None:
                target.stop()
                target = None
    finally:
        sink.stop()
        shutil.rmtree(sink.directory, ignore_errors=True)
        if target is not None:
            target.stop()
    (out / "fleet_density.json").write_text(json.dumps(results, indent=2))
    print("\n| transport | agents | interval | ramp (done) | RSS MiB (base) | KiB/agent | "
          "CPU µs/hb | CPU share | steady lateness p50 / p99 | ramp lateness p99 | "
          "hb failed / sent | rtt p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['transport']} | {r['agents']:,} | {r['interval_s']:g}s | "
              f"{r['ramp_s']:g}s ({_f(r['ramp_done_s'], '.0f')}s) | "
              f"{_f(r['steady_rss_mib'], '.0f')} ({_f(r['baseline_rss_mib'], '.0f')}) | "
              f"{_f(r['rss_kib_per_agent'], '.2f')} | {_f(r['cpu_us_per_heartbeat'], '.0f')} | "
              f"{_f(100 * (r['cpu_share'] or float('nan')), '.0f')}% | "
              f"{_f(r['steady_lateness_p50_ms'], '.1f')} / {_f(r['steady_lateness_p99_ms'], '.1f')} ms | "
              f"{_f(r['ramp_lateness_p99_ms'], '.0f')} ms | {r['hb_failed']:,} / {r['hb_sent']:,} | "
              f"{_f(r['rtt_p99_ms'], '.1f')} ms |")


if __name__ == "__main__":
    main()
