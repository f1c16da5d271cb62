#!/usr/bin/env python3
"""fleetload's engine against its peers (wrk, hey, Locust, a Python floor) on one core.

nginx (``return 200 "ok"``, one worker, ``access_log off``) runs pinned to core 1;
each generator runs alone, pinned to core 0, against ``http://127.0.0.1:PORT/``:

* closed loop, 50 connections: ``wrk -t1 -c50``, ``hey -c 50 -z``, Locust
  FastHttpUser (50 users, ``constant(0)``), the Python floor
  (``bench/python_floor.py --connections 50``), ``fleetload run --vus 50``;
* open loop at fixed rates: ``fleetload run --rate R --max-in-flight 1000``, the
  Python floor (``--rate R --max-in-flight 1000``) and, for reference,
  ``hey -c 50 -q R/50`` (a *paced closed loop*: hey's -q caps each worker's QPS, it
  does not schedule arrivals). wrk has no rate mode (wrk2 is not packaged) and
  Locust is closed-loop only: N/A.

The Python floor (``pyfloor``) is not a product but a reference: a bare
asyncio.Protocol + httptools HTTP/1.1 client on uvloop with no metrics machinery,
i.e. roughly what *any* Python generator can reach on this machine; ``pytask``
is the same floor driven the way a scripted generator must be (closed loop
only): an asyncio Task per connection awaiting, per iteration, a coroutine that
awaits a client coroutine. The "fleetload / Python floor" ratios show how much
of fleetload's cost is its own.

Every configuration runs ``--runs`` times (runs interleaved across generators);
each metric's median is reported. Per run: achieved req/s, user and system CPU
µs per request (``RUSAGE_CHILDREN`` deltas around the generator's process tree,
start-up included), peak RSS (GNU ``/usr/bin/time`` ``%M``: the largest
process of the tree), p50/p99 as the tool itself reports them. Raw results go to
``bench/out/engine_peers.json``.

    .venv/bin/python bench/engine_peers.py [--runs 3] [--duration 10]
        [--rates 10000,20000,50000,100000] [--only fleetload,wrk,hey,locust,pyfloor,pytask]
        [--modes closed,open]
    .venv/bin/python bench/engine_peers.py --soak [--soak-duration 600] [--soak-rate 20000]

``--soak`` runs only the memory soak: fleetload open loop for --soak-duration
seconds, the fleetload process's VmRSS sampled every 5 s; written to
``bench/out/engine_soak.json``.

Loopback only; every run is bounded in time; nginx is stopped on exit, Ctrl-C
included. Before each run the harness waits (up to --idle-wait s) for both cores
to be idle, since a concurrent benchmark on this 2-core machine would skew it;
the busy share it saw is recorded with the run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from nginx import Nginx, die_with_parent  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
LOCUST = str(ROOT / ".venv" / "bin" / "locust")
OUT = BENCH / "out"
GENERATORS = ("wrk", "hey", "locust", "pyfloor", "pytask", "fleetload")  # fleetload last
GEN_CPU = "0"
SERVER_CPU = 1
CLOSED_CONNS = 50
MAX_IN_FLIGHT = 1000
HEY_WORKERS = 50


# -- one run --------------------------------------------------------------------------
@dataclass
class Run:
    generator: str
    mode: str  # closed | open
    rate: float | None
    index: int
    cmd: list[str]
    rc: int | str = 0
    wall_s: float = 0.0
    requests: int = 0
    errors: int = 0
    rps: float | None = None
    user_s: float = 0.0
    sys_s: float = 0.0
    user_us_per_req: float | None = None
    sys_us_per_req: float | None = None
    rss_mb: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    # fleetload and pyfloor only
    lat_p99_ms: float | None = None  # http_req_latency p99 (coordinated-omission corrected)
    dropped: int | None = None
    lag_p99_ms: float | None = None
    # machine state just before the run: busy share of core 0 / core 1
    busy_before: list[float] = field(default_factory=list)
    # CPU share of core 0 / core 1 during the run that was neither the generator's nor
    # nginx's (user+nice+system jiffies of the core minus their CPU): other processes
    # on this shared machine; and the cores' steal share (the hypervisor's)
    other_pct: list[float] = field(default_factory=list)
    steal_pct: list[float] = field(default_factory=list)
    attempts: int = 1
    # GNU time's own %U/%S for the generator (cross-check of the rusage deltas)
    time_user_s: float | None = None
    time_sys_s: float | None = None
    note: str = ""


def env_for_generators() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.pop("GOMAXPROCS", None)
    return env


def _cpu_times() -> dict[str, tuple[int, int]]:
    """Per-core (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if re.match(r"cpu\d+ ", line):
            name, *vals = line.split()
            v = [int(x) for x in vals]
            idle = v[3] + v[4]  # idle + iowait
            total = sum(v[:8])
            out[name] = (total - idle, total)
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _core_fields() -> dict[int, list[int]]:
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if re.match(r"cpu\d+ ", line):
            name, *vals = line.split()
            out[int(name[3:])] = [int(x) for x in vals]
    return out


def _proc_cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def interference(before: dict[int, list[int]], after: dict[int, list[int]], wall: float,
                 gen_cpu_s: float, server_cpu_s: float) -> tuple[list[float], list[float]]:
    """(other %, steal %) per core [generator core, server core] over the run."""
    other, steal = [], []
    for core, own in ((int(GEN_CPU), gen_cpu_s), (SERVER_CPU, server_cpu_s)):
        d = [a - b for a, b in zip(after[core], before[core], strict=False)]
        task_s = (d[0] + d[1] + d[2]) / CLK_TCK  # user + nice + system
        other.append(round(100.0 * max(0.0, task_s - own) / wall, 1) if wall else 0.0)
        steal.append(round(100.0 * (d[7] if len(d) > 7 else 0) / CLK_TCK / wall, 1)
                     if wall else 0.0)
    return other, steal


def core_busy(interval: float = 1.0) -> list[float]:
    a = _cpu_times()
    time.sleep(interval)
    b = _cpu_times()
    res = []
    for name in sorted(a, key=lambda n: int(n[3:])):
        db, dt_ = b[name][0] - a[name][0], b[name][1] - a[name][1]
        res.append(round(100.0 * db / dt_, 1) if dt_ else 0.0)
    return res


def wait_idle(max_wait: float, threshold: float = 15.0) -> list[float]:
    """Wait until every core is below threshold % busy (or max_wait passed)."""
    deadline = time.monotonic() + max_wait
    busy = core_busy()
    warned = False
    while max(busy) > threshold and time.monotonic() < deadline:
        if not warned:
            print(f"    (machine busy {busy}% per core: waiting up to {max_wait:.0f}s "
                  f"for it to be idle)", flush=True)
            warned = True
        time.sleep(2)
        busy = core_busy()
    if max(busy) > threshold:
        print(f"    WARNING: still busy {busy}% per core; running anyway", flush=True)
    return busy


def run_generator(cmd: list[str], timeout: float, cwd: str, env: dict[str, str]
                  ) -> tuple[int | str, str, str, float, float, list[float] | None, float]:
    """Run cmd pinned to the generator core under GNU time.

    Returns (rc, stdout, stderr, user_s, sys_s, [peak_rss_mb, time_user_s, time_sys_s],
    wall_s). CPU comes from
    RUSAGE_CHILDREN deltas (the whole waited-for tree: time, taskset->generator and
    anything it waits for); peak RSS from time's %M (KiB, the largest process).
    """
    tfile = Path(cwd) / "time.txt"
    tfile.unlink(missing_ok=True)
    full = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(tfile), "taskset", "-c", GEN_CPU, *cmd]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                         start_new_session=True, text=True,
                         preexec_fn=lambda: die_with_parent(signal.SIGKILL))
    rc: int | str
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        rc = "timeout"
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        raise
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    tm = None
    try:
        m, u, s = tfile.read_text().strip().splitlines()[-1].split()
        tm = [int(m) / 1024.0, float(u), float(s)]
    except (OSError, ValueError, IndexError):
        pass
    return (rc, out, err, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, tm, wall)


# -- per-tool command lines and parsers -----------------------------------------------
def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def wrk_cmd(url: str, duration: int) -> list[str]:
    return ["wrk", "-t1", f"-c{CLOSED_CONNS}", f"-d{duration}s", "--latency", url]


def parse_wrk(out: str, r: Run) -> None:
    m = re.search(r"(\d+) requests in", out)
    r.requests = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r.rps = float(m.group(1)) if m else None
    for pct, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m:
            setattr(r, attr, _to_ms(m.group(1), m.group(2)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    r.errors = errs


def hey_cmd(url: str, duration: int, rate: float | None) -> list[str]:
    cmd = ["hey", "-c", str(HEY_WORKERS), "-z", f"{duration}s"]
    if rate is not None:
        cmd += ["-q", f"{rate / HEY_WORKERS:g}"]
    return [*cmd, url]


def parse_hey(out: str, r: Run) -> None:
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r.rps = float(m.group(1)) if m else None
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    r.requests = sum(codes.values())
    r.errors = sum(n for c, n in codes.items() if c != 200)
    if "Error distribution:" in out:
        tail = out.split("Error distribution:", 1)[1]
        r.errors += sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s", tail, re.M))
    for pct, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%+ in ([\d.]+) secs", out, re.M)
        if m:
            setattr(r, attr, float(m.group(1)) * 1e3)


def locust_cmd(url: str, duration: int, csv_prefix: str) -> list[str]:
    return [LOCUST, "-f", str(BENCH / "locustfile_fast.py"), "--headless",
            "-u", str(CLOSED_CONNS), "-r", str(CLOSED_CONNS), "-t", f"{duration}s",
            "--only-summary", "--csv", csv_prefix, "-H", url.rstrip("/"),
            "--loglevel", "WARNING"]


def parse_locust(csv_prefix: str, r: Run) -> None:
    path = Path(csv_prefix + "_stats.csv")
    if not path.exists():
        r.note = "no locust csv"
        return
    with path.open() as f:
        rows = [row for row in csv.DictReader(f) if row.get("Name") == "Aggregated"]
    if not rows:
        r.note = "no Aggregated row"
        return
    row = rows[0]
    r.requests = int(row["Request Count"])
    r.errors = int(row["Failure Count"])
    r.rps = float(row["Requests/s"])
    r.p50_ms = float(row["50%"])
    r.p99_ms = float(row["99%"])


def pyfloor_cmd(url: str, duration: int, rate: float | None, style: str = "callback"
                ) -> list[str]:
    cmd = [PY, str(BENCH / "python_floor.py"), "--url", url, "--duration", str(duration)]
    if rate is None:
        return [*cmd, "--connections", str(CLOSED_CONNS), "--style", style]
    return [*cmd, "--rate", f"{rate:g}", "--max-in-flight", str(MAX_IN_FLIGHT)]


def parse_pyfloor(out: str, r: Run) -> None:
    """The last JSON line python_floor.py printed."""
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("{")]
    if not lines:
        r.note = "no JSON line from python_floor.py"
        return
    d = json.loads(lines[-1])
    r.requests = int(d.get("requests") or 0)
    r.rps = d.get("rps")
    r.errors = int(d.get("errors") or 0)
    r.p50_ms = d.get("p50_ms")
    r.p99_ms = d.get("p99_ms")
    r.dropped = d.get("dropped")
    r.lag_p99_ms = d.get("lag_p99_ms")
    r.lat_p99_ms = d.get("lat_p99_ms")


def fleetload_cmd(url: str, duration: int, rate: float | None, out_dir: str) -> list[str]:
    cmd = [PY, "-m", "fleetload", "run", "--url", url, "--duration", f"{duration}s",
           "--quiet", "--no-preflight", "--out", out_dir]
    if rate is None:
        cmd += ["--vus", str(CLOSED_CONNS)]
    else:
        cmd += ["--rate", f"{rate:g}", "--max-in-flight", str(MAX_IN_FLIGHT)]
    return cmd


def _values(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    return dict((metrics.get(name) or {}).get("values") or {})


def parse_fleetload_summary(summary: dict[str, Any], r: Run, open_loop: bool) -> None:
    m = summary["metrics"]
    reqs = _values(m, "http_reqs")
    r.requests = int(reqs.get("count", 0))
    r.rps = reqs.get("rate")
    dur = _values(m, "http_req_duration")
    r.p50_ms = dur.get("med")
    r.p99_ms = dur.get("p(99)")
    r.lat_p99_ms = _values(m, "http_req_latency").get("p(99)")
    failed = _values(m, "http_req_failed")
    # a rate metric: 'passes' are the failed requests (k6 convention); fall back to rate*count
    if "passes" in failed:
        r.errors = int(failed["passes"])
    elif "rate" in failed:
        r.errors = round(float(failed["rate"]) * r.requests)
    r.dropped = int(_values(m, "dropped_iterations").get("count", 0))
    if open_loop:
        r.lag_p99_ms = _values(m, "iteration_lag").get("p(99)")


# -- driving runs -----------------------------------------------------------------------
def one_run(gen: str, mode: str, rate: float | None, idx: int, url: str, duration: int,
            work: str, env: dict[str, str], idle_wait: float, server_pid: int | None = None,
            max_other: float = 100.0, retries: int = 0) -> Run:
    """One run; repeated (up to `retries` times) while other processes took more than
    `max_other` % of either core during it. The last attempt is kept."""
    for attempt in range(1, retries + 2):
        r = _one_run(gen, mode, rate, idx, url, duration, work, env, idle_wait, server_pid)
        r.attempts = attempt
        if not r.other_pct or max(r.other_pct) <= max_other or attempt > retries:
            return r
        print(f"    disturbed (other processes {r.other_pct}% of core 0/1): "
              f"{fmt_run(r)}; again", flush=True)
    return r


def _one_run(gen: str, mode: str, rate: float | None, idx: int, url: str, duration: int,
             work: str, env: dict[str, str], idle_wait: float, server_pid: int | None) -> Run:
    run_dir = tempfile.mkdtemp(prefix=f"{gen}-", dir=work)
    if gen == "wrk":
        cmd = wrk_cmd(url, duration)
    elif gen == "hey":
        cmd = hey_cmd(url, duration, rate)
    elif gen == "locust":
        cmd = locust_cmd(url, duration, str(Path(run_dir) / "locust"))
    elif gen == "pyfloor":
        cmd = pyfloor_cmd(url, duration, rate)
    elif gen == "pytask":
        cmd = pyfloor_cmd(url, duration, None, style="task")
    else:
        cmd = fleetload_cmd(url, duration, rate, str(Path(run_dir) / "out"))
    r = Run(gen, mode, rate, idx, cmd)
    r.busy_before = wait_idle(idle_wait)
    stat0, srv0 = _core_fields(), _proc_cpu_s(server_pid)
    rc, out, err, us, ss, tm, wall = run_generator(cmd, duration + 90, run_dir, env)
    stat1, srv1 = _core_fields(), _proc_cpu_s(server_pid)
    r.rc, r.user_s, r.sys_s, r.wall_s = rc, us, ss, wall
    r.other_pct, r.steal_pct = interference(stat0, stat1, wall, us + ss, srv1 - srv0)
    if tm:
        r.rss_mb, r.time_user_s, r.time_sys_s = tm
    try:
        if gen == "wrk":
            parse_wrk(out, r)
        elif gen == "hey":
            parse_hey(out, r)
        elif gen == "locust":
            parse_locust(str(Path(run_dir) / "locust"), r)
        elif gen in ("pyfloor", "pytask"):
            parse_pyfloor(out, r)
        else:
            summary_path = Path(run_dir) / "out" / "summary.json"
            if summary_path.exists():
                parse_fleetload_summary(json.loads(summary_path.read_text()), r, rate is not None)
            else:
                r.note = "no summary.json"
    except Exception as exc:  # a parse failure is a result, not a crash
        r.note = f"parse error: {exc!r}"
    ok_rc = {0} | ({1} if gen == "locust" else set()) | ({99} if gen == "fleetload" else set())
    if rc not in ok_rc or r.requests == 0:
        tail = (err or out).strip().splitlines()[-15:]
        r.note = (r.note + " " if r.note else "") + f"rc={rc}: " + " | ".join(tail)
    if r.requests:
        r.user_us_per_req = us / r.requests * 1e6
        r.sys_us_per_req = ss / r.requests * 1e6
    shutil.rmtree(run_dir, ignore_errors=True)
    return r


def median(runs: list[Run], attr: str) -> float | None:
    vals = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return statistics.median(vals) if vals else None


def summarise(runs: list[Run]) -> dict[str, Any]:
    attrs = ("rps", "requests", "errors", "user_us_per_req", "sys_us_per_req", "rss_mb",
             "p50_ms", "p99_ms", "lat_p99_ms", "dropped", "lag_p99_ms", "user_s", "sys_s")
    med = {a: median(runs, a) for a in attrs}
    med["dropped_max"] = max((r.dropped for r in runs if r.dropped is not None), default=None)
    med["lag_p99_ms_max"] = max((r.lag_p99_ms for r in runs if r.lag_p99_ms is not None),
                                default=None)
    med["errors_max"] = max((r.errors for r in runs), default=0)
    med["runs"] = len(runs)
    med["busy_before_max"] = max((max(r.busy_before) for r in runs if r.busy_before), default=None)
    med["other_pct_max"] = max((max(r.other_pct) for r in runs if r.other_pct), default=None)
    return med


# -- formatting -------------------------------------------------------------------------
def f_num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def f_ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def f_rate(r: float) -> str:
    return f"{r / 1000:g}k"


HEADER = ("| generator | achieved req/s | user µs/req | sys µs/req | dropped/late | p50 ms | "
          "p99 ms | RSS MB | p99 ms CO-corrected |\n"
          "|---|--:|--:|--:|--:|--:|--:|--:|--:|")


def row(label: str, s: dict[str, Any], dropped: str) -> str:
    return (f"| {label} | {f_num(s['rps'])} | {f_num(s['user_us_per_req'], 1)} | "
            f"{f_num(s['sys_us_per_req'], 1)} | {dropped} | {f_ms(s['p50_ms'])} | "
            f"{f_ms(s['p99_ms'])} | {f_num(s['rss_mb'], 1)} | {f_ms(s['lat_p99_ms'])} |")


LABELS = {
    "wrk": f"wrk -t1 -c{CLOSED_CONNS}",
    "hey": f"hey -c {HEY_WORKERS}",
    "locust": f"Locust FastHttpUser, {CLOSED_CONNS} users",
    "pyfloor": f"Python floor (asyncio.Protocol + httptools, no metrics), {CLOSED_CONNS} conns",
    "pytask": f"Python floor, a Task per connection and a coroutine per iteration, "
              f"{CLOSED_CONNS} conns",
    "fleetload": f"fleetload --vus {CLOSED_CONNS}",
}


def closed_table(res: dict[str, dict[str, Any]]) -> str:
    lines = [f"### Closed loop, {CLOSED_CONNS} connections (median of runs)", "", HEADER]
    for gen in GENERATORS:
        if gen in res:
            lines.append(row(LABELS[gen], res[gen], "n/a (closed loop)"))
    lines.append("")
    if "wrk" in res and res["wrk"]["rps"]:
        w = res["wrk"]
        for gen in GENERATORS:
            if gen == "wrk" or gen not in res or res[gen]["rps"] is None:
                continue
            s = res[gen]
            cpu = (f"{s['user_us_per_req'] / w['user_us_per_req']:.2f}x"
                   if s["user_us_per_req"] and w["user_us_per_req"] else "—")
            lines.append(f"- {gen} / wrk: req/s {s['rps'] / w['rps']:.2f}x, "
                         f"user CPU per request {cpu}")
    fl = res.get("fleetload")
    for ref, what in (("pyfloor", "Python floor"), ("pytask", "Python floor with tasks")):
        pf = res.get(ref)
        if fl and pf and fl["rps"] is not None and pf["rps"]:
            cpu = (f"{fl['user_us_per_req'] / pf['user_us_per_req']:.2f}x"
                   if fl["user_us_per_req"] and pf["user_us_per_req"] else "—")
            lines.append(f"- fleetload / {what}: req/s {fl['rps'] / pf['rps']:.2f}x, "
                         f"user CPU per request {cpu}")
    return "\n".join(lines)


def _cpu_per_req(s: dict[str, Any]) -> float | None:
    """user + sys µs per request."""
    if s["user_us_per_req"] is None or s["sys_us_per_req"] is None:
        return None
    return float(s["user_us_per_req"] + s["sys_us_per_req"])


def open_table(res: dict[str, dict[str, dict[str, Any]]], gens: list[str]) -> str:
    lines = ["### Open loop, fixed arrival rate (median of runs)", "", HEADER]
    for rate_key in sorted(res, key=float):
        rate = float(rate_key)
        per = res[rate_key]
        if "fleetload" in per:
            s = per["fleetload"]
            late = (f"{f_num(s['dropped'])} dropped, lag p99 {f_ms(s['lag_p99_ms'])} ms")
            lines.append(row(f"fleetload --rate {f_rate(rate)} (open loop)", s, late))
        if "pyfloor" in per:
            s = per["pyfloor"]
            late = (f"{f_num(s['dropped'])} dropped, lag p99 {f_ms(s['lag_p99_ms'])} ms")
            lines.append(row(f"Python floor @ {f_rate(rate)} (open loop)", s, late))
        if "hey" in per:
            s = per["hey"]
            lines.append(row(f"hey -c {HEY_WORKERS} -q {rate / HEY_WORKERS:g} @ {f_rate(rate)} "
                             f"(paced closed loop)", per["hey"], "not reported"))
    if "wrk" in gens:
        lines.append("| wrk | N/A: no rate mode (wrk2 is not packaged) | | | | | | | |")
    if "locust" in gens:
        lines.append("| Locust | N/A: closed loop only | | | | | | | |")
    ratios = []
    for rate_key in sorted(res, key=float):
        fl, pf = res[rate_key].get("fleetload"), res[rate_key].get("pyfloor")
        if not (fl and pf and fl["rps"] is not None and pf["rps"]):
            continue
        fc, pc = _cpu_per_req(fl), _cpu_per_req(pf)
        cpu = f"{fc / pc:.2f}x" if fc and pc else "—"
        ratios.append(f"- fleetload / Python floor @ {f_rate(float(rate_key))}: achieved "
                      f"{fl['rps'] / pf['rps']:.2f}x, CPU per request (user+sys) {cpu}")
    if ratios:
        lines += ["", *ratios]
    return "\n".join(lines)


def bars(closed: dict[str, Any], open_: dict[str, Any]) -> str:
    out = ["### Bars"]
    fl = closed.get("fleetload")
    if fl and fl["rps"] is not None:
        ok = fl["rps"] >= 80_000
        out.append(f"- closed loop ≥ 80,000 req/s on one core: {f_num(fl['rps'])} req/s — "
                   f"{'MET' if ok else 'NOT MET'}")
    o50 = (open_.get("50000") or {}).get("fleetload")
    if o50:
        ok = o50["dropped_max"] == 0 and (o50["lag_p99_ms"] or 0) <= 2.0
        out.append(f"- open loop 50,000 req/s, zero dropped, send-lag p99 ≤ 2 ms: achieved "
                   f"{f_num(o50['rps'])} req/s, dropped median {f_num(o50['dropped'])} "
                   f"(max {f_num(o50['dropped_max'])}), lag p99 median "
                   f"{f_ms(o50['lag_p99_ms'])} ms — {'MET' if ok else 'NOT MET'}")
    o100 = (open_.get("100000") or {}).get("fleetload")
    if o100:
        out.append(f"- open loop 100,000 req/s (reported): achieved {f_num(o100['rps'])} req/s, "
                   f"dropped {f_num(o100['dropped'])}, lag p99 {f_ms(o100['lag_p99_ms'])} ms")
    return "\n".join(out)


# -- machine facts ------------------------------------------------------------------------
def _first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return ((p.stdout or "") + (p.stderr or "")).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_facts() -> dict[str, Any]:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    fl_version = "?"
    try:
        ns: dict[str, Any] = {}
        exec((ROOT / "src/fleetload/_version.py").read_text(), ns)
        fl_version = ns.get("__version__", "?")
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "nginx": _first_line(["nginx", "-v"]),
        "wrk": _first_line(["wrk", "-v"]),
        "hey": "Debian package " + _first_line(["dpkg-query", "-W", "-f", "${Version}", "hey"]),
        "locust": _first_line([LOCUST, "--version"]),
        "pyfloor": _first_line([PY, "-c", "import uvloop, httptools; print('uvloop',"
                                " uvloop.__version__, 'httptools', httptools.__version__)"]),
        "fleetload": fl_version,
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "generator_cpu": int(GEN_CPU),
        "server_cpu": SERVER_CPU,
    }


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fmt_run(r: Run) -> str:
    bits = [f"{f_num(r.rps)} req/s", f"user {f_num(r.user_us_per_req, 2)} µs/req",
            f"sys {f_num(r.sys_us_per_req, 2)} µs/req", f"p50 {f_ms(r.p50_ms)} ms",
            f"p99 {f_ms(r.p99_ms)} ms", f"RSS {f_num(r.rss_mb, 1)} MB"]
    if r.dropped is not None and r.mode == "open":
        bits.append(f"dropped {r.dropped} lag p99 {f_ms(r.lag_p99_ms)} ms")
    if r.other_pct:
        bits.append(f"other {r.other_pct}%")
    if r.errors:
        bits.append(f"ERRORS {r.errors}")
    if r.note:
        bits.append(f"NOTE {r.note}")
    return ", ".join(bits)


# -- main benchmark ---------------------------------------------------------------------
def bench(args: argparse.Namespace) -> int:
    gens = [g for g in GENERATORS if g in args.only]
    rates = [float(x) for x in args.rates.split(",") if x.strip()] if args.rates else []
    modes = set(args.modes.split(","))
    env = env_for_generators()
    facts = machine_facts()
    print(f"# engine_peers: {facts['cpu_model']}, {facts['cpus']} cores; server on core "
          f"{SERVER_CPU}, generators on core {GEN_CPU}; {args.runs} run(s) x {args.duration}s",
          flush=True)
    all_runs: list[Run] = []
    work = tempfile.mkdtemp(prefix="engine-peers-")
    try:
        with Nginx(cpu=SERVER_CPU) as ng:
            url = ng.url
            print(f"# nginx {ng.pid} at {url}", flush=True)
            plan: list[tuple[str, str, float | None]] = []
            if "closed" in modes:
                plan += [(g, "closed", None) for g in gens]
            if "open" in modes:
                for rate in rates:
                    plan += [(g, "open", rate) for g in gens
                             if g in ("fleetload", "pyfloor", "hey")]
            for idx in range(args.runs):
                for gen, mode, prate in plan:
                    label = f"{gen} {mode}" + (f" @{f_rate(prate)}" if prate else "")
                    print(f"  run {idx + 1}/{args.runs} {label} ...", flush=True)
                    r = one_run(gen, mode, prate, idx, url, args.duration, work, env,
                                args.idle_wait, ng.pid, args.max_other, args.retries)
                    print(f"    {fmt_run(r)}", flush=True)
                    all_runs.append(r)
            errlog = ng.error_log()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    closed: dict[str, Any] = {}
    open_: dict[str, dict[str, Any]] = {}
    for gen in gens:
        rs = [r for r in all_runs if r.generator == gen and r.mode == "closed"]
        if rs:
            closed[gen] = summarise(rs)
        for rate in rates:
            rs = [r for r in all_runs if r.generator == gen and r.mode == "open" and r.rate == rate]
            if rs:
                open_.setdefault(f"{rate:g}", {})[gen] = summarise(rs)

    print()
    print(f"Machine: {facts['cpu_model']}, {facts['cpus']} cores. nginx on core {SERVER_CPU}, "
          f"generator on core {GEN_CPU}. {args.duration} s per run, median of {args.runs}.")
    print()
    if closed:
        print(closed_table(closed))
        print()
    if open_:
        print(open_table(open_, gens))
        print()
    print(bars(closed, open_))
    problems = [r for r in all_runs if r.errors or r.note]
    if problems:
        print("\n### Runs with errors or notes")
        for r in problems:
            print(f"- {r.generator} {r.mode} {r.rate or ''} run {r.index + 1}: {fmt_run(r)}")
    busy = [r for r in all_runs if r.other_pct and max(r.other_pct) > args.max_other]
    if busy:
        print(f"\nWARNING: {len(busy)} run(s) were disturbed by other processes (> "
              f"{args.max_other:g}% of a core): see other_pct in the JSON.")
    worst = max((max(r.other_pct) for r in all_runs if r.other_pct), default=0.0)
    print(f"\nOther processes' share of a core during a kept run: at most {worst:g}%.")
    if errlog.strip():
        print("\nnginx error log (tail):\n" + "\n".join(errlog.strip().splitlines()[-5:]))

    OUT.mkdir(parents=True, exist_ok=True)
    out_path = Path(args.json)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({
        "meta": facts | {"runs": args.runs, "duration_s": args.duration, "rates": rates,
                         "generators": gens, "connections": CLOSED_CONNS,
                         "max_in_flight": MAX_IN_FLIGHT},
        "closed": closed,
        "open": open_,
        "raw": [asdict(r) for r in all_runs],
    }, indent=2))
    print(f"\nraw results: {out_path}")
    return 0


# -- memory soak ------------------------------------------------------------------------
def read_status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])  # KiB
    except (OSError, ValueError):
        pass
    return out


def soak(args: argparse.Namespace) -> int:
    env = env_for_generators()
    facts = machine_facts()
    dur = int(args.soak_duration)
    rate = float(args.soak_rate)
    interval = 5.0
    work = tempfile.mkdtemp(prefix="engine-soak-")
    samples: list[dict[str, float]] = []
    print(f"# soak: fleetload open loop {rate:g} req/s for {dur}s, RSS every {interval:g}s; "
          f"{facts['cpu_model']}", flush=True)
    try:
        with Nginx(cpu=SERVER_CPU) as ng:
            out_dir = str(Path(work) / "out")
            cmd = ["taskset", "-c", GEN_CPU, *fleetload_cmd(ng.url, dur, rate, out_dir)]
            print("# " + " ".join(cmd), flush=True)
            busy = wait_idle(args.idle_wait)
            log = open(Path(work) / "fleetload.log", "w+")  # noqa: SIM115
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            # taskset execs the generator, so p.pid is the fleetload python process
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work,
                                 start_new_session=True,
                                 preexec_fn=lambda: die_with_parent(signal.SIGKILL))
            try:
                next_t = t0 + interval
                deadline = t0 + dur + 120
                while p.poll() is None:
                    now = time.monotonic()
                    if now >= deadline:
                        os.killpg(p.pid, signal.SIGKILL)
                        p.wait()
                        break
                    if now >= next_t:
                        st = read_status(p.pid)
                        if "VmRSS" in st:
                            s = {"t": round(now - t0, 1), "rss_mb": st["VmRSS"] / 1024,
                                 "hwm_mb": st.get("VmHWM", 0) / 1024}
                            samples.append(s)
                            print(f"  t={s['t']:6.1f}s  RSS {s['rss_mb']:7.1f} MB  "
                                  f"HWM {s['hwm_mb']:7.1f} MB", flush=True)
                        next_t += interval
                    time.sleep(min(0.2, max(0.0, next_t - time.monotonic())))
            except BaseException:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                raise
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            rc = p.returncode
            log.seek(0)
            tail = log.read().strip().splitlines()[-20:]
            log.close()
            r = Run("fleetload", "open", rate, 0, cmd, rc=rc)
            summary_path = Path(out_dir) / "summary.json"
            if summary_path.exists():
                parse_fleetload_summary(json.loads(summary_path.read_text()), r, True)
            else:
                r.note = "no summary.json: " + " | ".join(tail)
            r.user_s, r.sys_s = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
            if r.requests:
                r.user_us_per_req = r.user_s / r.requests * 1e6
                r.sys_us_per_req = r.sys_s / r.requests * 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)

    at30 = min(samples, key=lambda s: abs(s["t"] - 30.0)) if samples else None
    end = samples[-1] if samples else None
    growth = end["rss_mb"] - at30["rss_mb"] if at30 and end else None
    peak = max((s["hwm_mb"] for s in samples), default=None)
    print()
    print(f"### Memory soak: fleetload open loop {rate:g} req/s for {dur} s")
    print()
    print("| RSS at ~30 s | RSS at end | growth | peak (VmHWM) | achieved req/s | requests | "
          "errors | dropped | send-lag p99 ms | p99 ms | user µs/req |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    print(f"| {f_num(at30['rss_mb'] if at30 else None, 1)} MB (t={at30 and at30['t']}s) | "
          f"{f_num(end['rss_mb'] if end else None, 1)} MB (t={end and end['t']}s) | "
          f"{f_num(growth, 1)} MB | {f_num(peak, 1)} MB | {f_num(r.rps)} | {f_num(r.requests)} | "
          f"{f_num(r.errors)} | {f_num(r.dropped)} | {f_ms(r.lag_p99_ms)} | {f_ms(r.p99_ms)} | "
          f"{f_num(r.user_us_per_req, 2)} |")
    print()
    if growth is not None:
        print(f"- bar: RSS growth < 50 MB over the soak: {growth:.1f} MB — "
              f"{'MET' if growth < 50 else 'NOT MET'}")
    if r.note or rc not in (0, 99):
        print(f"- fleetload rc={rc} {r.note}")
    out_path = Path(args.soak_json)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({
        "meta": facts | {"rate": rate, "duration_s": dur, "interval_s": interval,
                         "busy_before": busy},
        "rss_at_30s_mb": at30 and at30["rss_mb"], "rss_end_mb": end and end["rss_mb"],
        "growth_mb": growth, "peak_hwm_mb": peak,
        "run": asdict(r), "samples": samples,
    }, indent=2))
    print(f"\nraw results: {out_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per run")
    ap.add_argument("--rates", default="10000,20000,50000,100000",
                    help="open-loop rates (req/s), comma-separated; empty to skip")
    ap.add_argument("--only", default=",".join(GENERATORS),
                    help="generators to run, comma-separated "
                         "(fleetload,wrk,hey,locust,pyfloor,pytask)")
    ap.add_argument("--modes", default="closed,open", help="closed,open")
    ap.add_argument("--idle-wait", type=float, default=120.0,
                    help="max seconds to wait for idle cores before each run")
    ap.add_argument("--max-other", type=float, default=10.0,
                    help="repeat a run when other processes took more than this %% of a core")
    ap.add_argument("--retries", type=int, default=2, help="repeats of a disturbed run")
    ap.add_argument("--json", default=str(OUT / "engine_peers.json"))
    ap.add_argument("--soak", action="store_true", help="run only the memory soak")
    ap.add_argument("--soak-duration", type=int, default=600, help="soak seconds")
    ap.add_argument("--soak-rate", type=float, default=20000.0)
    ap.add_argument("--soak-json", default=str(OUT / "engine_soak.json"))
    args = ap.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(args.only) - set(GENERATORS)
    if unknown:
        ap.error(f"unknown generator(s): {', '.join(sorted(unknown))}")
    for tool in ("taskset", "/usr/bin/time", "nginx"):
        if not shutil.which(tool):
            ap.error(f"{tool} not found")
    raise_nofile()
    try:
        return soak(args) if args.soak else bench(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
