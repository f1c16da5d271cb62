"""Full ACME enrollments per second against Pebble, generator vs server CPU.

    .venv/bin/python bench/acme_enroll.py [--rates 10,20,40,...] [--duration 15]

Pebble (with its mock DNS) is pinned to core 1, fleetload to core 0 (taskset).
For each offered rate, one ``fleetload run acme-enroll`` (one worker, http-01,
ES256, one account pool of 100, one name per order); reported: achieved
enrollments/s, enrollment p50/p95, failures, CPU of each side (user+sys from
/proc and getrusage), generator CPU per enrollment and the share of it spent
signing JWS (acme_jws_sign, measured with perf_counter around each sign call).
Steps stop once Pebble saturates: achieved < 95 % of offered, dropped
arrivals, or p95 above 2 s. ``PEBBLE_WFE_NONCEREJECT=0`` so badNonce retries do not blur
the request count (the tests cover them).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.protocols.acme.pebble import Pebble, free_port  # noqa: E402


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def startup_cpu() -> float:
    """CPU of starting Python and importing fleetload + the pack's modules, to
    subtract from each run (it is not per-enrollment work)."""
    before = children_cpu()
    subprocess.run(["taskset", "-c", "0", sys.executable, "-c",
                    "import fleetload.cli.main, fleetload.protocols.acme, uvloop"],
                   env=_env(), check=True)
    return children_cpu() - before


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def run_step(pb: Pebble, http01: str, rate: float, duration: float, out: Path,
             startup: float) -> dict[str, float]:
    server_pids = [p.pid for p in pb.procs]
    srv0 = {pid: proc_cpu(pid) for pid in server_pids}
    gen0 = children_cpu()
    t0 = time.perf_counter()
    cmd = ["taskset", "-c", "0", sys.executable, "-m", "fleetload", "run", "acme-enroll",
           "--directory", pb.directory, "--ca-cert", str(pb.ca_file), "--http01-listen", http01,
           "--rate", f"{rate:g}", "--duration", f"{duration:g}s", "--p95", "60s",
           "--out", str(out), "--quiet", "--no-preflight"]
    subprocess.run(cmd, env=_env(), capture_output=True, check=False)
    wall = time.perf_counter() - t0
    gen = children_cpu() - gen0 - startup
    srv = {pid: proc_cpu(pid) - srv0[pid] for pid in server_pids}
    s = json.loads((out / "summary.json").read_text())
    m = s["metrics"]
    n = m.get("acme_enrollments", {}).get("values", {}).get("count", 0.0)
    dur = m.get("acme_enrollment_duration", {}).get("values", {})
    sign = s["acme"]["signing"]
    elapsed = s["run"]["elapsed"]
    return {
        "offered": rate, "achieved": n / duration, "enrollments": n,
        "failed": m["acme_enrollment_failed"]["values"]["rate"],
        "dropped": m.get("dropped_iterations", {}).get("values", {}).get("count", 0.0),
        "p50_ms": dur.get("med", 0.0), "p95_ms": dur.get("p(95)", 0.0),
        "reqs_per_enrollment": m["http_reqs"]["values"]["count"] / max(n, 1),
        "gen_cpu_s": gen, "gen_util": gen / elapsed,
        "gen_ms_per_enrollment": 1000 * gen / max(n, 1),
        "sign_ms_per_enrollment": sign["per_enrollment_ms"] or 0.0,
        "sign_avg_us": sign["avg_us"],
        "sign_share": (sign["total_ms"] / 1000) / gen if gen > 0 else 0.0,
        "pebble_cpu_s": srv[pb.pebble.pid], "pebble_util": srv[pb.pebble.pid] / elapsed,
        "dns_cpu_s": sum(v for k, v in srv.items() if k != pb.pebble.pid),
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="10,20,40,80,120,160,200,250,300")
    ap.add_argument("--duration", type=float, default=15.0)
    args = ap.parse_args()
    http01 = free_port()
    rows: list[dict[str, float]] = []
    with Pebble(http_port=http01, cpu=1, env={"PEBBLE_WFE_NONCEREJECT": "0"}) as pb, \
            tempfile.TemporaryDirectory() as tmp:
        startup = startup_cpu()
        print(f"startup CPU subtracted per run: {startup:.2f}s", flush=True)
        for i, rate in enumerate(float(r) for r in args.rates.split(",")):
            row = run_step(pb, f"127.0.0.1:{http01}", rate, args.duration,
                           Path(tmp) / f"r{i}", startup)
            rows.append(row)
            print(json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)
            if row["achieved"] < 0.95 * rate or row["dropped"] or row["p95_ms"] > 2000:
                break
    print("\n| offered/s | achieved/s | failed | p50 ms | p95 ms | req/enr | fleetload CPU "
          "(core 0) | gen ms/enr | sign ms/enr (share) | Pebble CPU (core 1) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['offered']:g} | {r['achieved']:.1f} | {100 * r['failed']:.1f}% | "
              f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['reqs_per_enrollment']:.1f} | "
              f"{100 * r['gen_util']:.0f}% | {r['gen_ms_per_enrollment']:.2f} | "
              f"{r['sign_ms_per_enrollment']:.3f} ({100 * r['sign_share']:.1f}%) | "
              f"{100 * r['pebble_util']:.0f}% |")


if __name__ == "__main__":
    main()
