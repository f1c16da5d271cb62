"""HTTP agents over mutual TLS, each on its own connection with its own client
certificate: generator RSS, handshakes per second during the ramp, CPU per
heartbeat.

    PYTHONPATH=src .venv/bin/python bench/fleet_tls.py                       # 20,000 agents
    PYTHONPATH=src .venv/bin/python bench/fleet_tls.py --agents 2000 --repeat 3 --front target

``fleetload run fleet --transport http --connections per-agent
--mint-identities CA_CERT,CA_KEY --workers N`` (default 2) pinned to CPU 0 (every agent
mints its certificate at its first connect). The server side, pinned to CPU 1:
``--front nginx`` (default) terminates TLS in nginx (two worker processes,
``ssl_verify_client on``, keep-alive 600 s) and proxies to the reference target
(plain HTTP, in-memory database, pushes off); ``--front target`` is the
reference target itself with ``--tls-cert/--tls-key/--client-ca`` (uvicorn
closes connections idle for 5 s, so every 30 s heartbeat opens a new
connection and handshakes again). The generator's processes are sampled every
0.5 s from /proc: RSS (VmRSS, summed) and CPU (utime + stime, summed).

Ramp = the run's start to ``ramp_done_s``; handshakes per second = connections
opened in the ramp / ramp seconds (and the busiest second, from the timeline).
Steady window = ramp end + one interval to the end - 2 s; CPU per heartbeat =
CPU seconds in it / heartbeats sent in it; RSS per agent = (steady RSS - RSS at
the run's start) / agents.
Results: a Markdown table, and bench/out/fleet_tls.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
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

from fleetplane.launch import RunningTarget, free_port, start_target  # noqa: E402
from tests.support.nginx import Nginx  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402

TOKEN = "bench-fleet-tls"
PROXY = """location / {
            proxy_pass http://target;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }"""
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for k in kids:
        out += _tree(int(k))
    return out


def _sample(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of a process and its descendants."""
    rss = cpu = 0.0
    for p in _tree(pid):
        try:
            parts = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(parts[11]) + int(parts[12])) / TICK
            rss += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE / 2**20
        except (OSError, IndexError, ValueError):
            pass
    return rss, cpu


def start_server(front: str, work: Path, ca: TestCA, ca_crt: Path) -> tuple[list[Any], str]:
    """The server side on CPU 1: (things to stop, https URL)."""
    crt, key = ca.server().write(work, "server")
    if front == "target":
        port = free_port()
        argv = ["taskset", "-c", "1", sys.executable, "-m", "fleetplane", "target",
                "--db", "sqlite://:memory:", "--listen", f"127.0.0.1:{port}",
                "--grpc-listen", f"127.0.0.1:{free_port()}", "--tls-cert", str(crt),
                "--tls-key", str(key), "--client-ca", str(ca_crt), "--auth-secret", TOKEN,
                "--push-task-prob", "0", "--push-check-prob", "0", "--push-inventory-prob", "0"]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(port)
        return [proc], f"https://127.0.0.1:{port}"
    target = start_target("sqlite://:memory:", auth_secret=TOKEN,
                          extra_args=["--push-task-prob", "0", "--push-check-prob", "0",
                                      "--push-inventory-prob", "0"])
    subprocess.run(["taskset", "-pc", "1", str(target.pid)], check=True, capture_output=True)
    ng = Nginx(work / "nginx", PROXY, tls=(crt, key, ca_crt), workers=2, cpu=1,
               main="user root;\nworker_rlimit_nofile 20000;", listen="backlog=4096 reuseport",
               http=f"upstream target {{ server {target.url.split('://', 1)[1]}; keepalive 64; }}",
               connections=16000, keepalive_requests=10_000_000, keepalive_timeout="600s")
    return [ng.start(30), target], ng.url


def _wait_port(port: int) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def stop(things: list[Any]) -> None:
    for t in things:
        if isinstance(t, RunningTarget | Nginx):
            t.stop()
        else:
            t.terminate()
            try:
                t.wait(10)
            except subprocess.TimeoutExpired:
                t.kill()


def run_once(url: str, ca_crt: Path, ca_key: Path, agents: int, ramp: float, interval: float,
             steady: float, out: Path, tag: str, workers: int) -> dict[str, Any]:
    duration = ramp + interval + steady + 10
    summary = out / f"summary-{tag}.json"
    argv = ["taskset", "-c", "0", sys.executable, "-m", "fleetload", "run", "fleet",
            "--transport", "http", "--connections", "per-agent", "--agents", str(agents),
            "--ramp", f"{ramp}s", "--duration", f"{duration}s",
            "--heartbeat-interval", f"{interval}s", "--registration-concurrency", "64",
            "--mint-identities", f"{ca_crt},{ca_key}", "--ca-cert", str(ca_crt),
            "--no-tasks", "--target", url, "--token", TOKEN, "--workers", str(workers),
            "--results-dir", str(out / "runs"), "--summary-export", str(summary),
            "--quiet", "--no-preflight", "--rtt-p95", "100000", "--allow-inconclusive"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    samples: list[tuple[float, float, float]] = []
    while proc.poll() is None:
        rss, cpu = _sample(proc.pid)
        samples.append((time.time(), rss, cpu))
        time.sleep(0.5)
    err = proc.stderr.read() if proc.stderr else ""
    if not summary.exists():
        raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
    data = json.loads(summary.read_text())
    run_dir = out / "runs" / data["run"]["id"]
    rows = [json.loads(x) for x in (run_dir / "timeline.jsonl").read_text().splitlines() if x]
    t0 = datetime.fromisoformat(data["run"]["started_at"].replace("Z", "+00:00")).timestamp()
    fleet = data["scenarios"]["fleet"]["fleet"]
    conns = fleet.get("connections") or {}
    ramp_done = fleet.get("ramp_done_s")

    def status_at(t: float, key: str) -> float:
        best = 0.0
        for r in rows:
            st = r["scenarios"].get("fleet", {}).get("status")
            if st and r["t"] <= t:
                best = st.get(key, 0.0)
        return best

    opened = [st.get("conns_opened", 0.0) for r in rows
              if (st := r["scenarios"].get("fleet", {}).get("status"))]
    per_second = [b - a for a, b in itertools.pairwise(opened)]
    w0 = (ramp_done + interval) if ramp_done is not None else float("nan")
    w1 = data["run"]["elapsed"] - 2.0
    win = [s for s in samples if w0 <= s[0] - t0 <= w1]
    cpu_s = win[-1][2] - win[0][2] if len(win) > 1 else float("nan")
    hb = (status_at(win[-1][0] - t0, "hb_sent") - status_at(win[0][0] - t0, "hb_sent")
          if len(win) > 1 else 0.0)
    ramp_opened = status_at(ramp_done or 0.0, "conns_opened")
    steady_rss = max(s[1] for s in win) if win else float("nan")
    # the processes before their first agent: everything loaded, no agent yet
    base_rss = next((s[1] for s in samples if s[0] >= t0), float("nan"))
    return {
        "agents": agents, "exit": proc.returncode, "run_id": data["run"]["id"],
        "ramp_done_s": ramp_done, "regs_active": fleet["registrations"]["active"],
        "conns_open_end_of_steady": status_at(w1, "conns_open"),
        "conns_opened": conns.get("opened"), "connect_errors": conns.get("connect_errors"),
        "handshakes_per_s_ramp": ramp_opened / ramp_done if ramp_done else None,
        "handshakes_per_s_peak": max(per_second) if per_second else None,
        "tls_handshake_ms": conns.get("tls_handshake_ms"),
        "peak_rss_mib": max(s[1] for s in samples), "steady_rss_mib": steady_rss,
        "start_rss_mib": base_rss,
        "rss_kib_per_agent": (steady_rss - base_rss) * 1024 / agents,
        "steady_cpu_s": cpu_s, "steady_heartbeats": hb,
        "cpu_us_per_heartbeat": 1e6 * cpu_s / hb if hb else None,
        "hb_sent": fleet["heartbeats"]["sent"], "hb_failed": fleet["heartbeats"]["failed"],
        "rtt_p99_ms": (fleet["heartbeat_rtt"] or {}).get("p99"),
        "errors": fleet["errors"][:3],
    }


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None or v != v else format(v, fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=20_000)
    ap.add_argument("--ramp", type=float, default=120.0, help="seconds")
    ap.add_argument("--interval", type=float, default=30.0, help="heartbeat seconds")
    ap.add_argument("--steady", type=float, default=60.0, help="seconds after ramp + interval")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2,
                    help="generator processes (the open-file limit is per process)")
    ap.add_argument("--front", choices=("nginx", "target"), default="nginx")
    args = ap.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            ca = TestCA.create("fleet_tls bench CA")
            ca_crt, ca_key = ca.write(work)
            things, url = start_server(args.front, work, ca, ca_crt)
            try:
                r = run_once(url, ca_crt, ca_key, args.agents, args.ramp, args.interval,
                             args.steady, work, f"{i}", args.workers)
            finally:
                stop(things)
        r["front"] = args.front
        r["workers"] = args.workers
        results.append(r)
        print(json.dumps(r), flush=True)
    (out / "fleet_tls.json").write_text(json.dumps(results, indent=2))
    print("\n| run | front | agents | ramp done s | handshakes/s ramp (peak) | handshake p50/p99 ms "
          "| steady RSS MiB | KiB/agent | CPU µs/heartbeat | hb failed | conns open |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(results):
        hs = r["tls_handshake_ms"] or {}
        print(f"| {i + 1} | {r['front']} | {r['agents']:,} | {_f(r['ramp_done_s'], '.1f')} | "
              f"{_f(r['handshakes_per_s_ramp'], '.0f')} ({_f(r['handshakes_per_s_peak'], '.0f')}) | "
              f"{_f(hs.get('p50'), '.1f')}/{_f(hs.get('p99'), '.1f')} | "
              f"{_f(r['steady_rss_mib'], '.0f')} | {_f(r['rss_kib_per_agent'], '.1f')} | "
              f"{_f(r['cpu_us_per_heartbeat'], '.0f')} | {r['hb_failed']:,} | "
              f"{_f(r['conns_open_end_of_steady'], ',.0f')} |")
    if len(results) > 1:
        for key in ("cpu_us_per_heartbeat", "rss_kib_per_agent", "handshakes_per_s_ramp"):
            vals = [r[key] for r in results if r[key] is not None]
            if vals:
                print(f"{key}: median {statistics.median(vals):.1f}, "
                      f"spread {min(vals):.1f}-{max(vals):.1f}")


if __name__ == "__main__":
    main()
