#!/usr/bin/env python3
"""A run across a local three-node Ray cluster against the same run on one
machine: the start barrier's spread, the bytes each node sends per interval,
and what ``--cluster`` costs over a local run at the same rate.

    .venv/bin/python bench/cluster.py [--rate 300] [--duration 8] [--nodes 3]
    .venv/bin/python bench/cluster.py --driver-only
    .venv/bin/python bench/cluster.py --ceiling [--repeat 3]
    .venv/bin/python bench/cluster.py --partition 5     # root only

Starts a ``ray.cluster_utils.Cluster`` (one CPU per node) and an nginx on
loopback, runs the same open-loop script locally (``--workers N``) and with
``--cluster`` (one process per node), and prints a Markdown table. Every node
shares this machine's monotonic clock, so the true clock offsets are zero and
the estimated offsets are the barrier's own error. Last (alone with
``--driver-only``), the driver's cost of one second at 20,000 requests/s
spread over 64 and 256 nodes: every node's interval decoded (80 series), then
all merged, as ``bench/merge_cost.py`` does for local workers.

``--ceiling`` runs ``fleetload ceiling --cluster`` (three steps of 1 s warm-up
and 2 s window) and prints each step's time beyond its schedule (placement,
the nodes' processes, the start barrier, the release), then what a Ray
connection costs (connect, ship the script, disconnect): the cost a step
would add if it connected by itself. ``--partition RUNS`` runs the
network-namespace partition test (tests/cluster/test_partition.py) RUNS
times and prints, per run, the time from the cut to the cut-off node's last
request as its own server saw it.
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
from fleetload.metrics.snapshot import IntervalSnapshot, merge_snapshots  # noqa: E402
from tests.support.nginx import nginx_server  # noqa: E402

SCRIPT = ROOT / "tests" / "cluster" / "scripts" / "spread.py"
STEPPED = ROOT / "tests" / "cluster" / "scripts" / "stepped.py"
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


def node_interval(series: int, per_series: int, rng: np.random.Generator) -> IntervalSnapshot:
    """One node's merged interval: ``series`` histograms of ``per_series``
    latencies around 2 ms (as bench/merge_cost.py draws them)."""
    trends = {(f"m{s % 8}", (("name", f"n{s // 8}"),)):
              Binned.from_seconds(rng.lognormal(np.log(0.002), 0.6, per_series))
              for s in range(series)}
    return IntervalSnapshot(0, 0.0, 1.0, trends=trends)


def decode_cost(series: int = 80, per_series: int = 2000) -> tuple[int, float, float]:
    """(bytes, encode ms, decode ms) of one node interval with ``series`` histograms."""
    snap = node_interval(series, per_series, np.random.default_rng(1))
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


def driver_cost(nodes: int, reqs: int = 20000, series: int = 80) -> tuple[float, float]:
    """(decode ms, merge ms) of one second at ``reqs`` requests/s over ``nodes``:
    every node's interval decoded, then all merged (one bincount per series)."""
    rng = np.random.default_rng(2)
    per = max(1, reqs * 8 // nodes // series)
    parts = [wire.encode(node_interval(series, per, rng)) for _ in range(nodes)]
    dec, mrg = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        snaps = [wire.decode(p) for p in parts]
        t1 = time.perf_counter()
        merge_snapshots(snaps)
        mrg.append(time.perf_counter() - t1)
        dec.append(t1 - t0)
    return statistics.median(dec) * 1e3, statistics.median(mrg) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=300.0)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--driver-only", action="store_true",
                    help="only the driver's decode and merge cost for 64 and 256 nodes")
    ap.add_argument("--ceiling", action="store_true",
                    help="only the cost of a ceiling step on the cluster")
    ap.add_argument("--repeat", type=int, default=3, help="ceilings (and connections) measured")
    ap.add_argument("--partition", type=int, metavar="RUNS",
                    help="only the partition test, RUNS times: cut to the node's last request")
    args = ap.parse_args()
    if args.driver_only:
        print_driver_cost()
        return
    if args.partition:
        print_partition(args.partition)
        return
    if args.ceiling:
        print_ceiling_cost(args.nodes, args.repeat)
        return
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
    print(f"| CPU of the fleetload command (local: its workers too), s | {local['cpu']:.1f} | "
          f"{remote['cpu']:.1f} |")
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
    print_driver_cost()


def median_range(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} (min {min(values):.2f}, "
            f"max {max(values):.2f})")


def print_partition(runs: int) -> None:
    test = ROOT / "tests" / "cluster" / "test_partition.py"
    times: list[float] = []
    for i in range(runs):
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                            str(test)], capture_output=True, text=True, cwd=ROOT, check=False)
        line = next((x for x in p.stdout.splitlines() if x.startswith("partition: ")), None)
        if p.returncode != 0 or line is None:
            raise SystemExit(f"run {i + 1} failed ({p.returncode}): {p.stdout[-3000:]}")
        times.append(float(line.split("last request ")[1].split("s ")[0]))
        print(f"run {i + 1}: {times[-1]:.2f} s from the cut to the last request", flush=True)
    print("\n| lease | runs | cut to the node's last request, s: median (min, max) |")
    print("|---:|---:|---|")
    print(f"| 3 s | {runs} | {median_range(times)} |")


def print_ceiling_cost(nodes: int, repeat: int) -> None:
    from ray.cluster_utils import Cluster

    from fleetload.cluster.connection import RayConnection

    tmp = Path(tempfile.mkdtemp(prefix="fleetload-bench-ceiling-"))
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    overheads: list[list[float]] = []
    walls: list[float] = []
    connects: list[float] = []
    try:
        for _ in range(nodes - 1):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        with nginx_server(tmp, 'location / { return 200 "ok"; }') as url:
            for i in range(repeat):
                out = tmp / f"ceiling-{i}"
                t0 = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "fleetload", "ceiling", str(STEPPED),
                                    "-e", f"TARGET={url}", "--slo", "p(99)<2000", "--from", "10",
                                    "--to", "40", "--step-duration", "2s", "--warmup", "1s",
                                    "--no-cooldown", "--cluster", cluster.address,
                                    "--workers", "1", "--out", str(out)],
                                   capture_output=True, text=True, check=False, cwd=ROOT)
                walls.append(time.perf_counter() - t0)
                if p.returncode != 0:
                    raise SystemExit(f"ceiling failed ({p.returncode}): {p.stderr[-2000:]}")
                report = json.loads((out / "ceiling.json").read_text())
                overheads.append([
                    json.loads((Path(st["run_dir"]) / "meta.json").read_text())["duration_s"] - 3.0
                    for st in report["steps"]])
            for _ in range(repeat):
                conn = RayConnection(cluster.address, str(STEPPED))
                t0 = time.perf_counter()
                conn.open()
                conn.close()
                connects.append(time.perf_counter() - t0)
    finally:
        cluster.shutdown()
    print(f"{nodes} nodes on one machine x 1 worker, 3 steps of 3 s, {repeat} ceilings\n")
    print("| ceiling | step 0 beyond its 3 s | step 1 | step 2 | whole command, s |")
    print("|---:|---:|---:|---:|---:|")
    for i, (over, wall) in enumerate(zip(overheads, walls, strict=True)):
        print(f"| {i + 1} | " + " | ".join(f"{o:.2f}" for o in over) + f" | {wall:.1f} |")
    print(f"\nper step beyond its schedule, s: {median_range([o for r in overheads for o in r])}")
    print(f"one connection (connect, ship the script, disconnect), s: {median_range(connects)}")


def print_driver_cost() -> None:
    print("\n| nodes | decode ms/s | merge ms/s | driver ms per second |")
    print("|---:|---:|---:|---:|")
    for n in (64, 256):
        dec, mrg = driver_cost(n)
        print(f"| {n} | {dec:.0f} | {mrg:.0f} | {dec + mrg:.0f} |")


if __name__ == "__main__":
    main()
