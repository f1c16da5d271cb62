"""Demonstration: the ceiling of the reference target on PostgreSQL with a
small and a large database pool, and the binding constraint of each.

    PYTHONPATH=src .venv/bin/python bench/ceiling_pool.py [--pg postgresql://postgres@127.0.0.1:5432]
        [--pools 5,50] [--db-latency 20ms] [--target-cpu 1 --generator-cpu 0]
        [--step-duration 10s] [--out results/ceiling-pool]

For each pool size: a fresh database (dropped at the end unless --keep-db),
the target pinned to CPU 1 (``start_target(cpu=1)``) with ``--db-latency``
(every transaction holds its connection that much longer: the pool then serves
at most pool / latency transactions/s), and ``fleetload ceiling`` pinned to
CPU 0 (``taskset -c 0``) creating certificates, observing the target's
/metrics, PostgreSQL and the target process. Prints each ceiling's output and
writes ``<out>/pool-<n>/ceiling.json`` + ``ceiling.html``. Not a test: it takes
several minutes and needs PostgreSQL (trust auth) and two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fleetplane.launch import start_target  # noqa: E402


def fresh_db(server: str, name: str) -> str:
    with psycopg.connect(server.rstrip("/") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rstrip('/')}/{name}"


def drop_db(server: str, name: str) -> None:
    with psycopg.connect(server.rstrip("/") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class HostSampler:
    """Once a second: each core's busy share (/proc/stat), the target's CPU and
    the time its event-loop thread spent runnable but waiting for a core
    (/proc/<pid>/schedstat). Other engineers' processes on the same two cores
    show up as core-busy minus target CPU, and as run-queue wait."""

    def __init__(self, pid: int, cpu: int) -> None:
        self.pid, self.cpu = pid, cpu
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _cores() -> dict[str, tuple[int, int]]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu"):
                    name, *vals = line.split()
                    ticks = [int(v) for v in vals[:8]]
                    out[name] = (sum(ticks), ticks[3] + ticks[4])  # total, idle + iowait
        return out

    def _proc(self) -> tuple[float, float]:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(f"/proc/{self.pid}/schedstat") as f:
            wait_s = int(f.read().split()[1]) / 1e9
        return cpu_s, wait_s

    def _run(self) -> None:
        prev_c, prev_p, prev_t = self._cores(), self._proc(), time.time()
        while not self._stop.wait(1.0):
            try:
                cores, proc, now = self._cores(), self._proc(), time.time()
            except OSError:
                return
            dt = now - prev_t
            sample = {"t": now, "target_cpu_pct": 100 * (proc[0] - prev_p[0]) / dt,
                      "target_runq_wait_pct": 100 * (proc[1] - prev_p[1]) / dt}
            for name, (total, idle) in cores.items():
                d_total = total - prev_c[name][0]
                if d_total > 0:
                    sample[f"{name}_busy_pct"] = 100 * (1 - (idle - prev_c[name][1]) / d_total)
            self.samples.append(sample)
            prev_c, prev_p, prev_t = cores, proc, now

    def __enter__(self) -> HostSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def per_step(self, out: Path, warmup_s: float) -> list[dict[str, Any]]:
        """Means over each step's measured window (from the end of its warm-up
        to its end, read from the step's meta.json)."""
        rows = []
        for meta_path in sorted((out / "steps").glob("*/meta.json")):
            meta = json.loads(meta_path.read_text())
            start = _epoch(meta["started_at"]) + warmup_s
            end = _epoch(meta["ended_at"])
            window = [s for s in self.samples if start < s["t"] <= end]
            if not window:
                continue
            row: dict[str, Any] = {"step": meta_path.parent.name}
            for key in ("target_cpu_pct", "target_runq_wait_pct", f"cpu{self.cpu}_busy_pct", "cpu_busy_pct"):
                vals = [s[key] for s in window if key in s]
                row[key] = round(sum(vals) / len(vals), 1) if vals else float("nan")
            rows.append(row)
        return rows


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _seconds(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--pools", default="5,50")
    ap.add_argument("--out", default="results/ceiling-pool")
    ap.add_argument("--slo", action="append", default=None)
    ap.add_argument("--from-rate", default="50")
    ap.add_argument("--to-rate", default="3200")
    ap.add_argument("--step-duration", default="10s")
    ap.add_argument("--warmup", default="3s")
    ap.add_argument("--cooldown-max", default="30s")
    ap.add_argument("--db-latency", default="0",
                    help="target --db-latency (e.g. 20ms): extra hold time per transaction")
    ap.add_argument("--target-cpu", type=int, default=1, help="CPU the target is pinned to")
    ap.add_argument("--generator-cpu", type=int, default=0, help="CPU fleetload is pinned to")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the databases")
    args = ap.parse_args()
    slos = args.slo or ["p(99)<250", "http_req_failed:rate<0.01"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for pool in (int(p) for p in args.pools.split(",")):
        name = f"fleetload_ceiling_pool{pool}_{int(time.time())}"
        db = fresh_db(args.pg, name)
        try:
            run_pool(args, pool, db, slos, env)
        finally:
            if not args.keep_db:
                drop_db(args.pg, name)
    return 0


def run_pool(args: argparse.Namespace, pool: int, db: str, slos: list[str], env: dict[str, str]) -> None:
    extra = ["--db-latency", args.db_latency]
    with start_target(db, pool_size=pool, cpu=args.target_cpu, extra_args=extra) as target:
        cmd = ["taskset", "-c", str(args.generator_cpu), sys.executable, "-m", "fleetload", "ceiling",
               str(ROOT / "bench" / "ceiling_create_cert.py"),
               "--target", target.url, "--token", target.api_key,
               "--from", args.from_rate, "--to", args.to_rate,
               "--step-duration", args.step_duration, "--warmup", args.warmup,
               "--cooldown-max", args.cooldown_max,
               "--observe", f"prometheus={target.url}/metrics",
               "--observe", f"postgres={db}",
               "--observe", f"process={target.pid}",
               "--out", f"{args.out}/pool-{pool}"]
        for s in slos:
            cmd += ["--slo", s]
        print(f"\n=== pool {pool}, db latency {args.db_latency}: target {target.url} "
              f"pid {target.pid} (cpu {args.target_cpu}) db {db}", flush=True)
        print(target.banner, flush=True)
        print("$ " + shlex.join(cmd).replace(target.api_key, "$KEY"), flush=True)
        with HostSampler(target.pid, args.target_cpu) as host:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
        print(f"(exit {proc.returncode})", flush=True)
        out = Path(args.out) / f"pool-{pool}"
        rows = host.per_step(out, _seconds(args.warmup))
        (out / "host.json").write_text(json.dumps({"samples": host.samples, "steps": rows}, indent=1))
        print(f"host, window means (machine: both cores, 100 % = all; cpu{args.target_cpu}: the target's core):")
        for r in rows:
            print(f"  {r['step']:<14} target cpu {r['target_cpu_pct']:5.1f}%  run-queue wait "
                  f"{r['target_runq_wait_pct']:5.1f}%  cpu{args.target_cpu} busy "
                  f"{r[f'cpu{args.target_cpu}_busy_pct']:5.1f}%  machine busy {r['cpu_busy_pct']:5.1f}%",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
