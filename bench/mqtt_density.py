"""MQTT device density: how many devices one fleetload process holds on one
Mosquitto, at what memory and CPU, and how well it keeps the publish schedule.

    PYTHONPATH=src .venv/bin/python bench/mqtt_density.py                   # 50,000 devices
    PYTHONPATH=src .venv/bin/python bench/mqtt_density.py --devices 18000   # what the machine allows

The benchmark starts its own Mosquitto (own config file and port, ``max_connections
-1``, ``set_tcp_nodelay true``, open-file limit raised to the hard limit, pinned
to CPU 1) and runs ``fleetload run mqtt-fleet`` (one process, pinned to CPU 0)
with N devices connecting at ``--connect-rate``/s, each publishing
``--payload-bytes`` at QoS ``--qos`` every ``--interval`` (±10 %), for ramp +
10 s + one interval + ``--steady`` (default one interval). The generator is sampled
every 0.5 s from /proc (VmRSS, utime + stime) and its live line read as it
prints (connected devices, publishes sent).

Steady window = from one interval after every device was connected to the last
live line. RSS per device = (peak RSS in the steady window - the same of a
10-device run) / N. CPU per publish = CPU seconds in the steady window /
publishes sent in it. Lateness = ``tick_lateness_steady`` of the summary (how
late publishes left against their schedule). "All connected" = the broker's
``$SYS/broker/clients/connected`` read in the steady window equals N.

One process holds one socket per device: N must fit the open-file hard limit
(``ulimit -Hn``) of both the generator and the broker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fleetplane.launch import free_port  # noqa: E402

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
CONF = """\
listener {port} 127.0.0.1
user {user}
allow_anonymous true
max_connections -1
max_queued_messages 1000
sys_interval 1
set_tcp_nodelay true
persistence false
pid_file {dir}/mosquitto.pid
log_dest file {dir}/mosquitto.log
log_type error
log_type warning
"""
LIVE = re.compile(r"connected: ([\d,]+) / ([\d,]+) \| .* pub: ([\d,]+) sent")


def _num(s: str) -> int:
    return int(s.replace(",", ""))


def _pinned(cpu: int) -> Any:
    def pre() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if os.cpu_count() and cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})
    return pre


def _proc(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds) of one process."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / tick


def sys_value(port: int, name: str) -> int:
    out = subprocess.run([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-t",
                          f"$SYS/broker/{name}", "-C", "1", "-W", "5"],
                         capture_output=True, text=True, timeout=10, check=False)
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.strip() else -1


def run_case(devices: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    port = free_port()
    bdir = work / f"broker-{devices}"
    bdir.mkdir()
    (bdir / "m.conf").write_text(CONF.format(port=port, dir=bdir,
                                            user=os.environ.get("USER") or "root"))
    broker = subprocess.Popen([MOSQUITTO, "-c", str(bdir / "m.conf")], preexec_fn=_pinned(1),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    ramp = devices / args.connect_rate
    duration = ramp + 10.0 + args.interval + args.steady
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    summary_path = work / f"summary-{devices}.json"
    cmd = [sys.executable, "-m", "fleetload", "run", "mqtt-fleet", "--broker",
           f"mqtt://127.0.0.1:{port}", "--agents", str(devices), "--ramp", f"{ramp:.1f}s",
           "--duration", f"{duration:.1f}s", "--publish-interval", f"{args.interval:g}s",
           "--qos", str(args.qos), "--payload-bytes", str(args.payload_bytes),
           "--connect-concurrency", "64", "--stats-interval", "1s",
           "--results-dir", str(work / "results"), "--summary-export", str(summary_path)]
    samples: list[tuple[float, int, float]] = []
    lines: list[tuple[float, int, int]] = []  # (time, connected, publishes sent)
    gen = subprocess.Popen(cmd, cwd=ROOT, env=env, preexec_fn=_pinned(0), text=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_all: list[float] = []
    broker_connected: list[int] = []

    def read_live() -> None:
        assert gen.stderr is not None
        for line in gen.stderr:
            m = LIVE.search(line)
            if m:
                now = time.monotonic()
                connected = _num(m.group(1))
                lines.append((now, connected, _num(m.group(3))))
                if connected == devices and not t_all:
                    t_all.append(now)

    reader = threading.Thread(target=read_live, daemon=True)
    reader.start()
    try:
        while gen.poll() is None:
            try:
                rss, cpu = _proc(gen.pid)
            except (OSError, StopIteration):
                break
            samples.append((time.monotonic(), rss, cpu))
            if t_all and not broker_connected and time.monotonic() > t_all[0] + 5:
                broker_connected.append(sys_value(port, "clients/connected"))
            time.sleep(0.5)
        gen.wait()
        reader.join(5)
    finally:
        broker.terminate()
        broker.wait(10)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    sc = summary.get("scenarios", {}).get("devices", {})
    fleet, mqtt = sc.get("fleet", {}), sc.get("mqtt", {})
    out: dict[str, Any] = {"devices": devices, "exit": gen.returncode,
                           "peak_rss": max((s[1] for s in samples), default=0),
                           "max_connected": max((c for _, c, _ in lines), default=0),
                           "broker_connected": broker_connected[0] if broker_connected else -1,
                           "connects": mqtt.get("connects"),
                           "lateness_steady": fleet.get("tick_lateness_steady"),
                           "lateness_ramp": fleet.get("tick_lateness_ramp"),
                           "connect_time": mqtt.get("connect_time"),
                           "ack_latency": mqtt.get("publish_ack_latency")}
    if t_all and lines:
        start, end = t_all[0] + args.interval, lines[-1][0]
        window = [s for s in samples if start <= s[0] <= end]
        pubs = [(t, p) for t, _, p in lines if start <= t <= end]
        if len(window) >= 2 and len(pubs) >= 2:
            out["steady_rss"] = max(s[1] for s in window)
            out["steady_s"] = window[-1][0] - window[0][0]
            out["steady_cpu_s"] = window[-1][2] - window[0][2]
            out["steady_publishes"] = pubs[-1][1] - pubs[0][1]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=50_000)
    ap.add_argument("--interval", type=float, default=60.0, help="publish interval, seconds")
    ap.add_argument("--steady", type=float, default=60.0, help="steady window, seconds")
    ap.add_argument("--connect-rate", type=float, default=1000.0, help="connects per second")
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--payload-bytes", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "mqtt_density.json")
    args = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and args.devices + 64 > hard:
        print(f"mqtt_density: {args.devices:,} devices need {args.devices + 64:,} open files in "
              f"the generator and the broker, but the hard limit here is {hard:,}; raise it "
              f"(LimitNOFILE=, limits.conf) or pass --devices {hard - 100}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mqtt-density-") as tmp:
        work = Path(tmp)
        base = run_case(10, argparse.Namespace(**{**vars(args), "steady": 5.0, "interval": 5.0}),
                        work)
        res = run_case(args.devices, args, work)
    per_device = (res.get("steady_rss", res["peak_rss"]) - base["peak_rss"]) / args.devices
    cpu_per_pub = (res["steady_cpu_s"] / res["steady_publishes"]
                   if res.get("steady_publishes") else float("nan"))
    late = res.get("lateness_steady") or {}
    res.update(base_rss=base["peak_rss"], rss_per_device=per_device, cpu_per_publish=cpu_per_pub,
               load_average=(load_before, os.getloadavg()[0]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                    "result": res}, indent=2))
    print("| devices | all connected (broker) | RSS | RSS per device | CPU per publish "
          "| publishes in steady window | lateness p50 / p99 / max |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.devices:,} | {res['max_connected']:,} ({res['broker_connected']:,}) "
          f"| {res.get('steady_rss', res['peak_rss']) / 2**20:,.0f} MiB "
          f"| {per_device / 1024:.1f} KiB | {cpu_per_pub * 1e6:.0f} µs "
          f"| {res.get('steady_publishes', 0):,} in {res.get('steady_s', 0):.0f} s "
          f"| {late.get('p50', float('nan')):.1f} / {late.get('p99', float('nan')):.1f} / "
          f"{late.get('max', float('nan')):.1f} ms |")
    ct = res.get("connect_time") or {}
    print(f"connect time p50 {ct.get('p50', float('nan')):.1f} ms, p99 "
          f"{ct.get('p99', float('nan')):.1f} ms; connects {res.get('connects')}; "
          f"generator exit {res['exit']}; 10-device baseline RSS {base['peak_rss'] / 2**20:.0f} MiB; "
          f"ramp lateness p99 {(res.get('lateness_ramp') or {}).get('p99', float('nan')):.1f} ms; "
          f"machine load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
