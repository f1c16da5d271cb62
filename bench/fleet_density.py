"""Fleet density: RSS per agent and CPU per heartbeat of one fleetload process.

    PYTHONPATH=src .venv/bin/python bench/fleet_density.py            # all cases
    PYTHONPATH=src .venv/bin/python bench/fleet_density.py --case http:10000 --interval 30

HTTP agents heartbeat against an nginx sink (registration answers 201 with a
JSON id, everything else 200) pinned to CPU 1; gRPC agents against the
reference target with an in-memory database (``sqlite://:memory:``), pinned to
CPU 1. fleetload runs ``fleet`` pinned to CPU 0, one worker. The process is
sampled every 0.5 s from /proc: RSS (VmRSS), CPU (utime + stime).

RSS per agent = (peak RSS in the steady window - RSS of a 100-agent run) / N.
CPU per heartbeat = CPU seconds in the steady window / heartbeats sent in it
(from the run's timeline). Tick lateness p99 and heartbeat rtt come from the
summary. Results are printed as a Markdown table and written to
bench/out/fleet_density.json.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fleetplane.launch import free_port, start_target  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = """\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/body;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        location = /api/v1/agents {{ return 201 '{{"id":"ag-$request_id","status":"Active"}}'; }}
        location / {{ return 200 '{{"status":"heartbeat_recorded"}}'; }}
    }}
}}
"""
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


def start_sink(cpu: int) -> tuple[subprocess.Popen[bytes], str, str]:
    d = tempfile.mkdtemp(prefix="fleet-sink-")
    port = free_port()
    Path(d, "nginx.conf").write_text(CONF.format(dir=d, port=port))
    proc = subprocess.Popen(["taskset", "-c", str(cpu), NGINX, "-p", d, "-c", f"{d}/nginx.conf"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"http://127.0.0.1:{port}", d


def run_case(transport: str, agents: int, interval: float, ramp: float, steady: float,
             url: str, grpc_target: str | None, token: str, out: Path) -> dict[str, Any]:
    duration = ramp + 10 + steady + 5
    summary = out / f"summary-{transport}-{agents}.json"
    argv = ["taskset", "-c", "0", sys.executable, "-m", "fleetload.cli.run", "fleet"]
    argv = ["taskset", "-c", "0", sys.executable, "-c",
            "from fleetload.cli.run import run_cmd; run_cmd(prog_name='fleetload')",
            "fleet", "--transport", transport, "--agents", str(agents),
            "--ramp", f"{ramp}s", "--duration", f"{duration}s",
            "--heartbeat-interval", f"{interval}s", "--registration-concurrency", "64",
            "--no-tasks", "--no-checks", "--no-inventory", "--target", url, "--token", token,
            "--results-dir", str(out / "runs"), "--summary-export", str(summary),
            "--stats-interval", "10s", "--quiet", "--no-preflight", "--rtt-p95", "100000"]
    if grpc_target:
        argv += ["--grpc-target", grpc_target]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    samples: list[tuple[float, float, float]] = []
    while proc.poll() is None:
        try:
            rss, cpu = _proc(proc.pid)
            samples.append((time.monotonic() - t0, rss, cpu))
        except (OSError, IndexError):
            pass
        time.sleep(0.5)
    err = proc.stderr.read() if proc.stderr else ""
    data = json.loads(summary.read_text())
    run_dir = out / "runs" / data["run"]["id"]
    rows = [json.loads(x) for x in (run_dir / "timeline.jsonl").read_text().splitlines() if x]
    # The run's t=0 is about when the process had imported and loaded the pack:
    # find it from the first timeline row written vs. the samples is overkill; the
    # steady window below is generous on both sides instead.
    startup = next((s[0] for s in samples if s[2] > 0.5), 1.0)
    w0, w1 = startup + ramp + 10, startup + ramp + 10 + steady
    win = [s for s in samples if w0 <= s[0] <= w1]
    cpu_s = win[-1][2] - win[0][2] if len(win) > 1 else float("nan")
    span = win[-1][0] - win[0][0] if len(win) > 1 else float("nan")
    fleet = data["scenarios"]["fleet"]["fleet"]

    def hb_at(t: float) -> float:
        best = 0.0
        for r in rows:
            st = r["scenarios"].get("fleet", {}).get("status")
            if st and r["t"] <= t:
                best = st["hb_sent"]
        return best

    hb = hb_at(w1 - startup) - hb_at(w0 - startup)
    return {
        "transport": transport, "agents": agents, "interval_s": interval, "exit": proc.returncode,
        "peak_rss_mib": max(s[1] for s in samples), "steady_rss_mib": max(s[1] for s in win) if win else None,
        "window_s": span, "cpu_s": cpu_s, "heartbeats_in_window": hb,
        "cpu_share": cpu_s / span if span else None,
        "cpu_us_per_heartbeat": 1e6 * cpu_s / hb if hb else None,
        "regs_active": fleet["registrations"]["active"], "streams_open_end": fleet["streams_open"],
        "hb_sent": fleet["heartbeats"]["sent"], "hb_failed": fleet["heartbeats"]["failed"],
        "rtt_p99_ms": (fleet["heartbeat_rtt"] or {}).get("p99"),
        "tick_lateness_p99_ms": (fleet["tick_lateness"] or {}).get("p99"),
        "tick_lateness_max_ms": (fleet["tick_lateness"] or {}).get("max"),
        "errors": fleet["errors"][:3], "stderr_tail": err[-500:] if proc.returncode not in (0, 99) else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", action="append",
                    help="transport:agents (default: http:10000 http:50000 http:100000 grpc:20000)")
    ap.add_argument("--interval", type=float, default=30.0, help="heartbeat interval, s")
    ap.add_argument("--steady", type=float, default=40.0, help="steady window, s")
    args = ap.parse_args()
    cases = args.case or ["http:10000", "http:50000", "http:100000", "grpc:20000"]
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    sink, sink_url, sink_dir = start_sink(cpu=1)
    target = None
    try:
        base = {}
        for transport in sorted({c.split(":")[0] for c in cases}):
            if transport == "grpc":
                target = start_target("sqlite://:memory:", pool_size=1, cpu=1,
                                      extra_args=["--renewal-workers", "0",
                                                  "--heartbeat-interval-ms", "30000"])
            url = target.url if transport == "grpc" and target else sink_url
            gt = target.grpc_target if transport == "grpc" and target else None
            base[transport] = run_case(transport, 100, args.interval, 1, 10, url, gt,
                                       "fleetload-dev-key", out)
            for case in cases:
                tr, n = case.split(":")
                if tr != transport:
                    continue
                ramp = max(5.0, int(n) / 2500)
                r = run_case(tr, int(n), args.interval, ramp, args.steady, url, gt,
                             "fleetload-dev-key", out)
                r["baseline_rss_mib"] = base[transport]["steady_rss_mib"]
                r["rss_kib_per_agent"] = 1024 * (r["steady_rss_mib"] - r["baseline_rss_mib"]) / int(n)
                results.append(r)
                print(json.dumps(r), flush=True)
            if target is not None:
                target.stop()
                target = None
    finally:
        sink.terminate()
        sink.wait(5)
        shutil.rmtree(sink_dir, ignore_errors=True)
        if target is not None:
            target.stop()
    (out / "fleet_density.json").write_text(json.dumps(results, indent=2))
    print("\n| transport | agents | interval | RSS MiB (base) | KiB/agent | CPU µs/heartbeat | "
          "CPU share | hb failed | tick lateness p99 | rtt p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['transport']} | {r['agents']:,} | {r['interval_s']:g}s | "
              f"{r['steady_rss_mib']:.0f} ({r['baseline_rss_mib']:.0f}) | "
              f"{r['rss_kib_per_agent']:.2f} | {r['cpu_us_per_heartbeat'] or float('nan'):.0f} | "
              f"{100 * (r['cpu_share'] or 0):.0f}% | {r['hb_failed']:,} of {r['hb_sent']:,} | "
              f"{r['tick_lateness_p99_ms'] or float('nan'):.1f} ms | {r['rtt_p99_ms'] or float('nan'):.1f} ms |")


if __name__ == "__main__":
    main()
