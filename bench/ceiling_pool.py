"""Demonstration: the ceiling of the reference target on PostgreSQL with a
small and a large database pool, and the binding constraint of each.

    PYTHONPATH=src .venv/bin/python bench/ceiling_pool.py [--pg postgresql://postgres@127.0.0.1:5432]
        [--pools 5,50] [--out results/ceiling-pool]

For each pool size: a fresh database, the target pinned to CPU 1
(``start_target(cpu=1)``), and ``fleetload ceiling`` pinned to CPU 0
(``taskset -c 0``) creating certificates, observing the target's /metrics,
PostgreSQL and the target process. Prints each ceiling's output and writes
``<out>/pool-<n>/ceiling.json`` + ``ceiling.html``. Not a test: it takes a few
minutes and needs PostgreSQL (trust auth) and two cores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fleetplane.launch import start_target  # noqa: E402


def fresh_db(server: str, name: str) -> str:
    with psycopg.connect(server.rstrip("/") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server.rstrip('/')}/{name}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--pools", default="5,50")
    ap.add_argument("--out", default="results/ceiling-pool")
    ap.add_argument("--slo", action="append", default=None)
    ap.add_argument("--from-rate", default="50")
    ap.add_argument("--to-rate", default="3200")
    ap.add_argument("--step-duration", default="6s")
    ap.add_argument("--warmup", default="3s")
    args = ap.parse_args()
    slos = args.slo or ["p(99)<250", "http_req_failed:rate<0.01"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for pool in (int(p) for p in args.pools.split(",")):
        db = fresh_db(args.pg, f"fleetload_ceiling_pool{pool}_{int(time.time())}")
        with start_target(db, pool_size=pool, cpu=1) as target:
            cmd = ["taskset", "-c", "0", sys.executable, "-m", "fleetload", "ceiling",
                   str(ROOT / "bench" / "ceiling_create_cert.py"),
                   "--target", target.url, "--token", target.api_key,
                   "--from", args.from_rate, "--to", args.to_rate,
                   "--step-duration", args.step_duration, "--warmup", args.warmup,
                   "--cooldown-max", "30s",
                   "--observe", f"prometheus={target.url}/metrics",
                   "--observe", f"postgres={db}",
                   "--observe", f"process={target.pid}",
                   "--out", f"{args.out}/pool-{pool}"]
            for s in slos:
                cmd += ["--slo", s]
            print(f"\n=== pool {pool}: target {target.url} pid {target.pid} db {db}", flush=True)
            print("$ " + shlex.join(cmd).replace(target.api_key, "$KEY"), flush=True)
            proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)
            print(f"(exit {proc.returncode})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
