#!/usr/bin/env python3
"""Reference target ceiling: heartbeats/s and certificate creates/s at saturation.

The target runs pinned to CPU 1 (``taskset -c 1``), wrk runs pinned to CPU 0
with enough connections to keep it saturated. Backends: SQLite, PostgreSQL
with pool 5 and pool 50 (each on a fresh, seeded database). Every cell is the
median of N runs; the maximum ``fleetplane_db_pool_waiting`` seen on /metrics
during the runs tells whether the connection pool was the binding constraint.

    .venv/bin/python bench/target_ceiling.py [--duration 10] [--runs 3] [--connections 64]

Needs ``wrk`` and ``taskset``; PostgreSQL via FLEETLOAD_TEST_PG_URL (skipped if unset).
Loopback only; every run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fleetplane.launch import RunningTarget, start_target
from fleetplane.seed import seed_database

KEY = "bench-key"
AGENTS = 5_000

HEARTBEAT_LUA = """
local n = 0
local agents = %(agents)d
function setup(thread) end
request = function()
  n = n + 1
  local path = string.format("/api/v1/agents/ag-loadtest-%%05d/heartbeat", (n %% agents) + 1)
  return wrk.format("POST", path, {["Authorization"] = "Bearer %(key)s",
    ["Content-Type"] = "application/json"}, '{"version":"1.0.0"}')
end
"""

CREATE_LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  counter = counter + 1
  local name = string.format("bench-%(nonce)s-%%d-%%d", tid or 0, counter)
  local body = '{"name":"' .. name .. '","common_name":"' .. name .. '.example.com",' ..
    '"owner_id":"o-alice","team_id":"t-platform","issuer_id":"iss-local",' ..
    '"renewal_policy_id":"rp-standard","tags":{"run_id":"bench-%(nonce)s"}}'
  return wrk.format("POST", "/api/v1/certificates", {["Authorization"] = "Bearer %(key)s",
    ["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Cell:
    backend: str
    pool: int
    scenario: str
    samples: list[Sample] = field(default_factory=list)
    max_waiting: int = 0
    max_in_use: int = 0


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(url: str, script: str, duration: int, connections: int) -> Sample:
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url],
        capture_output=True, text=True, timeout=duration + 60, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    n_err = int(errors.group(1)) if errors else 0
    if socket_errors:
        n_err += sum(int(x) for x in socket_errors.groups())
    return Sample(rps, _ms(p50.group(1)) if p50 else float("nan"), _ms(p99.group(1)) if p99 else float("nan"), n_err)


class PoolWatcher(threading.Thread):
    """Polls /metrics for the pool gauges while wrk runs (a negligible extra load)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop_flag = threading.Event()
        self.max_waiting = 0
        self.max_in_use = 0

    def run(self) -> None:
        while not self.stop_flag.wait(0.5):
            try:
                with urllib.request.urlopen(f"{self.url}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for name, attr in (("fleetplane_db_pool_waiting", "max_waiting"), ("fleetplane_db_pool_in_use", "max_in_use")):
                m = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
                if m:
                    setattr(self, attr, max(getattr(self, attr), int(float(m.group(1)))))


def measure(target: RunningTarget, cell: Cell, make_script: Callable[[], str], args: argparse.Namespace) -> None:
    for i in range(args.runs):
        script = make_script()  # fresh per run: create names must never repeat
        watcher = PoolWatcher(target.url)
        watcher.start()
        sample = run_wrk(target.url, script, args.duration, args.connections)
        watcher.stop_flag.set()
        watcher.join()
        cell.samples.append(sample)
        cell.max_waiting = max(cell.max_waiting, watcher.max_waiting)
        cell.max_in_use = max(cell.max_in_use, watcher.max_in_use)
        print(f"  {cell.backend} pool={cell.pool} {cell.scenario} run {i + 1}: {sample.rps:.0f} req/s "
              f"p50={sample.p50_ms:.1f}ms p99={sample.p99_ms:.1f}ms errors={sample.errors} "
              f"pool waiting max={watcher.max_waiting}", flush=True)  # fmt: skip


def pg_database(base: str) -> tuple[str, str]:
    import psycopg

    name = f"fleetplane_bench_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    p = urlsplit(base)
    return name, urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def drop_pg(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table(cells: list[Cell]) -> str:
    lines = [
        "| backend | pool | scenario | req/s (median) | min-max | p50 ms | p99 ms | non-2xx | pool in use max | pool waiting max |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        rps = [s.rps for s in c.samples]
        lines.append(
            f"| {c.backend} | {c.pool} | {c.scenario} | {statistics.median(rps):,.0f} | {min(rps):,.0f}-{max(rps):,.0f} "
            f"| {statistics.median(s.p50_ms for s in c.samples):.1f} | {statistics.median(s.p99_ms for s in c.samples):.1f} "
            f"| {sum(s.errors for s in c.samples)} | {c.max_in_use} | {c.max_waiting} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--runs", type=int, default=3, help="runs per cell (median reported)")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--pg-url", default=os.environ.get("FLEETLOAD_TEST_PG_URL"))
    ap.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    args = ap.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} not found (apt-get install wrk util-linux)", file=sys.stderr)
            return 2
    workdir = tempfile.mkdtemp(prefix="fleetplane-bench-")

    def hb_script() -> str:
        path = os.path.join(workdir, "heartbeat.lua")
        Path(path).write_text(HEARTBEAT_LUA % {"agents": AGENTS, "key": KEY})
        return path

    def create_script() -> str:
        nonce = secrets.token_hex(4)
        path = os.path.join(workdir, f"create-{nonce}.lua")
        Path(path).write_text(CREATE_LUA % {"nonce": nonce, "key": KEY})
        return path

    configs: list[tuple[str, int]] = []
    if args.only in (None, "sqlite"):
        configs.append(("sqlite", 5))
    if args.only in (None, "postgres"):
        if args.pg_url:
            configs += [("postgres", 5), ("postgres", 50)]
        else:
            print("FLEETLOAD_TEST_PG_URL not set: PostgreSQL rows skipped", file=sys.stderr)
    cells: list[Cell] = []
    for backend, pool in configs:
        pg_name = None
        if backend == "sqlite":
            db = "sqlite:///" + os.path.join(workdir, f"bench-{pool}.db").lstrip("/")
        else:
            pg_name, db = pg_database(args.pg_url)
        try:
            seeded = seed_database(db, certs=10_000, agents=AGENTS)
            print(f"{backend} pool={pool}: {seeded.summary()}", flush=True)
            with start_target(db, pool_size=pool, auth_secret=KEY, cpu=1, extra_args=["--renewal-workers", "0"]) as t:
                for scenario, make in (("heartbeat", hb_script), ("create certificate", create_script)):
                    cell = Cell(backend, pool, scenario)
                    measure(t, cell, make, args)
                    cells.append(cell)
        finally:
            if pg_name:
                drop_pg(args.pg_url, pg_name)
    shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s on CPU 0, target on CPU 1, median of {args.runs}")
    print()
    print(table(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
