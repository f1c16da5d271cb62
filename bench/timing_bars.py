#!/usr/bin/env python3
"""The timing bars: fleetload's own scheduling lag beside the Python floor's, run by run.

nginx pinned to core 1, each generator alone on core 0 (the harness of
``bench/engine_peers.py``), runs interleaved:

* open loop at each ``--rates`` rate: ``fleetload run --rate R --max-in-flight
  1000`` and the Python floor (``bench/python_floor.py --rate R``); per run:
  dropped iterations, dropped in the first second (fleetload's
  ``timeline.jsonl``), iteration lag p99, ``http_req_latency`` p99 and
  ``http_req_duration`` p99 (and their gap), the generator lag's share of the
  latency, and how busy the machine was (other processes' share of each core,
  the load average, and the time the hypervisor stole from each core);
* closed loop, 50 connections (``--closed-runs``): ``fleetload run --vus 50``
  and the task-driven floor (``python_floor.py --style task``), their ratio.

``fleetload`` is the installed build (compiled by mypyc when the editable
install had a C compiler: ``fleetload --version``); ``fleetload-pure`` (add it
to ``--only``) is the same checkout's sources without the compiled modules,
copied to a temporary directory, run side by side.

Every run is printed as it ends; the end prints per configuration every run's
value, the median and the spread (min-max). Raw results go to
``bench/out/timing_bars.json``.

    .venv/bin/python bench/timing_bars.py [--runs 10] [--duration 10]
        [--rates 10000,20000] [--closed-runs 5] [--only fleetload,pyfloor]

Unlike ``engine_peers.py`` it does not wait for idle cores (on a shared machine
they may never come): it records the load it ran under instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from engine_peers import (  # noqa: E402
    OUT,
    SERVER_CPU,
    _core_fields,
    _proc_cpu_s,
    env_for_generators,
    fleetload_cmd,
    interference,
    pyfloor_cmd,
    run_generator,
)
from nginx import Nginx  # noqa: E402


@dataclass
class Bar:
    generator: str
    mode: str
    rate: float | None
    index: int
    rc: int | str = 0
    rps: float | None = None
    requests: int = 0
    dropped: int | None = None
    dropped_first_s: int | None = None
    lag_p99_ms: float | None = None
    lat_p99_ms: float | None = None
    dur_p99_ms: float | None = None
    user_s: float = 0.0
    sys_s: float = 0.0
    other_pct: list[float] = field(default_factory=list)
    steal_pct: list[float] = field(default_factory=list)
    loadavg: float = 0.0
    note: str = ""

    @property
    def gap_ms(self) -> float | None:
        if self.lat_p99_ms is None or self.dur_p99_ms is None:
            return None
        return self.lat_p99_ms - self.dur_p99_ms

    @property
    def share(self) -> float | None:
        if self.lag_p99_ms is None or not self.lat_p99_ms:
            return None
        return min(self.lag_p99_ms / self.lat_p99_ms, 1.0)


def _values(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    return dict((metrics.get(name) or {}).get("values") or {})


def _read_fleetload(out: Path, b: Bar) -> None:
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    b.requests = int(_values(m, "http_reqs").get("count", 0))
    b.rps = _values(m, "http_reqs").get("rate")
    b.dur_p99_ms = _values(m, "http_req_duration").get("p(99)")
    b.lat_p99_ms = _values(m, "http_req_latency").get("p(99)")
    b.dropped = int(_values(m, "dropped_iterations").get("count", 0))
    b.lag_p99_ms = _values(m, "iteration_lag").get("p(99)") if b.rate else None
    timeline = out / "timeline.jsonl"
    if b.rate and timeline.is_file():
        first = json.loads(timeline.read_text().splitlines()[0])
        b.dropped_first_s = int(sum(float(sc.get("dropped") or 0)
                                    for sc in (first.get("scenarios") or {}).values()))


def _read_floor(stdout: str, b: Bar) -> None:
    lines = [ln for ln in stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        b.note = "no JSON line from python_floor.py"
        return
    d = json.loads(lines[-1])
    b.requests = int(d.get("requests") or 0)
    b.rps = d.get("rps")
    b.dropped = d.get("dropped")
    b.lag_p99_ms = d.get("lag_p99_ms")
    b.lat_p99_ms = d.get("lat_p99_ms")
    b.dur_p99_ms = d.get("p99_ms")


def one(gen: str, mode: str, rate: float | None, idx: int, url: str, duration: int,
        work: str, env: dict[str, str], server_pid: int) -> Bar:
    run_dir = tempfile.mkdtemp(prefix=f"{gen}-", dir=work)
    out = Path(run_dir) / "out"
    if gen == "fleetload-pure":
        # the pure-Python sources first on the path, ahead of the checkout's
        env = dict(env, PYTHONPATH=os.pathsep.join([str(Path(work) / "pure-src"),
                                                     env.get("PYTHONPATH", "")]))
    if gen.startswith("fleetload"):
        cmd = fleetload_cmd(url, duration, rate, str(out))
    else:
        cmd = pyfloor_cmd(url, duration, rate, style="callback" if rate else "task")
    b = Bar(gen, mode, rate, idx, loadavg=os.getloadavg()[0])
    stat0, srv0 = _core_fields(), _proc_cpu_s(server_pid)
    rc, stdout, stderr, us, ss, _tm, wall = run_generator(cmd, duration + 90, run_dir, env)
    stat1, srv1 = _core_fields(), _proc_cpu_s(server_pid)
    b.rc, b.user_s, b.sys_s = rc, us, ss
    b.other_pct, b.steal_pct = interference(stat0, stat1, wall, us + ss, srv1 - srv0)
    try:
        if gen.startswith("fleetload"):
            _read_fleetload(out, b)
        else:
            _read_floor(stdout, b)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        b.note = f"unreadable result: {exc!r}; {(stderr or stdout).strip()[-300:]}"
    shutil.rmtree(run_dir, ignore_errors=True)
    return b


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def line(b: Bar) -> str:
    label = f"{b.generator} {b.mode}" + (f" @{b.rate:g}" if b.rate else "")
    return (f"{label:<24} run {b.index + 1:>2}: {_f(b.rps, 0):>7} req/s  dropped "
            f"{_f(b.dropped, 0):>6} (1st s {_f(b.dropped_first_s, 0):>5})  lag p99 "
            f"{_f(b.lag_p99_ms):>6}  lat p99 {_f(b.lat_p99_ms):>6}  dur p99 {_f(b.dur_p99_ms):>6}"
            f"  gap {_f(b.gap_ms):>6}  share {_f(b.share)}  other% {b.other_pct}"
            f"  steal% {b.steal_pct}"
            f"  load {b.loadavg:.1f}" + (f"  [{b.note}]" if b.note else ""))


def spread(values: list[float | None], digits: int = 2) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    return (f"median {statistics.median(vals):,.{digits}f}, {min(vals):,.{digits}f}-"
            f"{max(vals):,.{digits}f}; runs: " + ", ".join(f"{v:,.{digits}f}" for v in vals))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rates", default="10000,20000")
    ap.add_argument("--closed-runs", type=int, default=5)
    ap.add_argument("--only", default="fleetload,pyfloor")
    ap.add_argument("--json", default=str(OUT / "timing_bars.json"))
    args = ap.parse_args()
    gens = [g for g in ("pyfloor", "fleetload", "fleetload-pure") if g in args.only.split(",")]
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    env = env_for_generators()
    bars: list[Bar] = []
    work = tempfile.mkdtemp(prefix="timing-bars-")
    if "fleetload-pure" in gens:
        shutil.copytree(ROOT / "src", Path(work) / "pure-src", ignore=shutil.ignore_patterns(
            "*.so", "*.pyd", "__pycache__", "*.egg-info"))
    try:
        with Nginx(cpu=SERVER_CPU) as ng:
            print(f"# nginx {ng.pid} at {ng.url} on core {SERVER_CPU}; generators on core 0",
                  flush=True)
            plan = [(g, "open", r, args.runs) for r in rates for g in gens]
            plan += [(g, "closed", None, args.closed_runs) for g in gens]
            for idx in range(max([args.runs, args.closed_runs], default=0)):
                for gen, mode, rate, runs in plan:
                    if idx < runs:
                        b = one(gen, mode, rate, idx, ng.url, args.duration, work, env, ng.pid)
                        print(line(b), flush=True)
                        bars.append(b)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for gen, mode, rate, _runs in plan:
        rs = [b for b in bars if (b.generator, b.mode, b.rate) == (gen, mode, rate)]
        label = f"{gen} {mode}" + (f" @{rate:g}" if rate else "")
        print(f"## {label} ({len(rs)} runs)")
        print(f"  req/s        {spread([b.rps for b in rs], 0)}")
        if mode == "open":
            print(f"  dropped      {spread([b.dropped for b in rs], 0)}")
            if gen == "fleetload":
                print(f"  dropped 1st s {spread([b.dropped_first_s for b in rs], 0)}")
            print(f"  lag p99 ms   {spread([b.lag_p99_ms for b in rs])}")
            print(f"  lat p99 ms   {spread([b.lat_p99_ms for b in rs])}")
            print(f"  dur p99 ms   {spread([b.dur_p99_ms for b in rs])}")
            print(f"  lat-dur ms   {spread([b.gap_ms for b in rs])}")
            print(f"  lag share    {spread([b.share for b in rs])}")
        print(f"  other % core0 {spread([b.other_pct[0] if b.other_pct else None for b in rs], 1)}")
        print(f"  steal % core0 {spread([b.steal_pct[0] if b.steal_pct else None for b in rs], 1)}")
        print(f"  load avg     {spread([b.loadavg for b in rs], 1)}")
    closed = {g: [b.rps for b in bars if b.generator == g and b.mode == "closed" and b.rps]
              for g in gens}
    for gen in ("fleetload", "fleetload-pure"):
        if closed.get(gen) and closed.get("pyfloor"):
            ratio = statistics.median(closed[gen]) / statistics.median(closed["pyfloor"])
            print(f"\nclosed loop: {gen} / task-driven floor = {ratio:.2f}x (medians)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(sys.argv),
                               "runs": [dict(asdict(b), gap_ms=b.gap_ms, share=b.share)
                                        for b in bars]}, indent=2))
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
