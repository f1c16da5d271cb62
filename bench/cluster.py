#!/usr/bin/env python3
"""A run across a local three-node Ray cluster against the same run on one
machine: the start barrier's spread, the bytes each node sends per interval,
and what ``--cluster`` costs over a local run at the same rate.

    .venv/bin/python bench/cluster.py [--rate 300] [--duration 8] [--nodes 3]

Starts a ``ray.cluster_utils.Cluster`` (one CPU per node) and an nginx on
loopback, runs the same open-loop script locally (``--workers N``) and with
``--cluster`` (one process per node), and prints a Markdown table. Every node
shares this machine's monotonic clock, so the true clock offsets are zero and
the estimated offsets are the barrier's own error. Then the driver's decoding
cost of one node interval (80 series) is measured, for the 64/256-node
estimate in docs/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from fleetload.cluster import wire  # noqa: E402
from fleetload.metrics.histogram import Binned  # noqa: E402
from fleetload.metrics.snapshot import IntervalSnapshot  # noqa: E402
from tests.support.nginx import nginx_server  # noqa: E402

SCRIPT = ROOT / "tests" / "cluster" / "scripts" / "spread.py"
NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


def fleetload(out: Path, url: str, rate: float, duration: float, *extra: str) -> dict[str, Any]:
    """One run through the CLI; wall time, the driver's own CPU and its files."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "fleetload", "run", str(SCRIPT), "-e",
                        f"TARGET={url}", "-e", f"RATE={rate:g}", "-e", f"DUR={duration:g}s",
                        "-e", f"CAP={int(rate)}", "--out", str(out), "--quiet",
                        "--allow-inconclusive", *extra],
                       capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"run failed ({p.returncode}): {p.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "summary": summary, "meta": meta}


def lag_p99(run: dict[str, Any]) -> float:
    return float(run["summary"]["scenarios"]["spread"]["schedule"]["iteration_lag"]["p99"])


def count(run: dict[str, Any]) -> int:
    return int(run["summary"]["metrics"]["http_reqs"]["values"]["count"])


def decode_cost(series: int = 80, per_series: int = 2000) -> tuple[int, float, float]:
    """(bytes, encode ms, decode ms) of one node interval with ``series`` histograms."""
    rng = np.random.default_rng(1)
    trends = {(f"m{s % 8}", (("name", f"n{s // 8}"),)):
              Binned.from_seconds(rng.lognormal(np.log(0.002), 0.6, per_series))
              for s in range(series)}
    snap = IntervalSnapshot(0, 0.0, 1.0, trends=trends)
    enc, dec = [], []
    data = b""
    for _ in range(7):
        t0 = time.perf_counter()
        data = wire.encode(snap)
        t1 = time.perf_counter()
        wire.decode(data)
        dec.append(time.perf_counter() - t1)
        enc.append(t1 - t0)
    return len(data), statistics.median(enc) * 1e3, statistics.median(dec) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()
    from ray.cluster_utils import Cluster

    tmp = Path(tempfile.mkdtemp(prefix="fleetload-bench-cluster-"))
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        with nginx_server(tmp, 'location / { return 200 "ok"; }') as url:
            local = fleetload(tmp / "local", url, args.rate, args.duration,
                              "--workers", str(args.nodes))
            remote = fleetload(tmp / "cluster", url, args.rate, args.duration,
                               "--cluster", cluster.address, "--workers", "1")
    finally:
        cluster.shutdown()
    nodes = remote["meta"]["nodes"]
    offsets = [n["clock_offset_s"] * 1e3 for n in nodes]
    scheduled = int(args.rate * args.duration)
    print(f"{args.nodes} nodes on one machine, {args.rate:g} it/s for {args.duration:g}s "
          f"({scheduled} iterations)\n")
    print(f"| | local (--workers {args.nodes}) | --cluster ({args.nodes} nodes x 1) |")
    print("|---|---:|---:|")
    print(f"| requests merged | {count(local)} | {count(remote)} |")
    print(f"| wall time, s | {local['wall']:.1f} | {remote['wall']:.1f} |")
    print(f"| overhead over the schedule, s | {local['wall'] - args.duration:.1f} | "
          f"{remote['wall'] - args.duration:.1f} |")
    print(f"| driver CPU, s | {local['cpu']:.1f} | {remote['cpu']:.1f} |")
    print(f"| iteration lag p99, ms | {lag_p99(local):.2f} | {lag_p99(remote):.2f} |")
    print(f"\nstart barrier: estimated offsets {', '.join(f'{o:+.3f}' for o in offsets)} ms "
          f"(true offset 0): spread {max(offsets) - min(offsets):.3f} ms, bound "
          f"±{max(n['clock_uncertainty_s'] for n in nodes) * 1e3:.3f} ms")
    for n in nodes:
        print(f"node {n['node']}: {n.get('bytes_per_interval', 0):,} bytes per interval "
              f"({n.get('plain_bytes_per_interval', 0):,} pickled as is)")
    size, enc, dec = decode_cost()
    print(f"\none node interval of 80 series: {size:,} bytes, encode {enc:.1f} ms, "
          f"decode {dec:.1f} ms")


if __name__ == "__main__":
    main()
