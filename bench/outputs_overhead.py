#!/usr/bin/env python3
"""What the live outputs cost the generator, per request.

nginx (``return 200 "ok"``, one worker) runs pinned to core 1. ``fleetload run
--url URL --rate R --duration D --workers 1 --max-in-flight 1000`` runs pinned
to core 0, open loop,
alternately without (A) and with (B) every live output, ``--pairs`` times
(ABAB..., so slow drift of the shared machine cancels):

* ``--dashboard 127.0.0.1:PORT`` with a headless Chromium holding the page
  open, so the Server-Sent Events stream is really consumed and the charts
  redrawn every second;
* ``-o prometheus=127.0.0.1:PORT`` scraped every 1 s by a real Prometheus;
* ``-o prometheus-rw=http://127.0.0.1:PORT/api/v1/write`` to the same
  Prometheus (``--web.enable-remote-write-receiver``);
* ``-o csv=FILE``.

Prometheus and Chromium run pinned to core 1 beside nginx: their work is not
the generator's. The generator's CPU is the user+system time of the fleetload
process and everything it waited for (``os.wait4`` on its pid: taskset execs
fleetload, so the pid is fleetload's), start-up included, divided by the
requests completed (``http_reqs`` in its ``summary.json``). Every run uses the
committed ``src/`` (``git archive HEAD``, or ``--rev REV``; ``--rev installed``: the venv's own build, compiled when it could be), taken once at the start and
compiled to bytecode once, as an installed package is (otherwise, with
``PYTHONDONTWRITEBYTECODE`` set, every run would compile every module it
imports, and count it). Each "with" run is checked: the page's
event stream was connected, Prometheus scraped and received the run's final
totals, the CSV file holds every request.

Two measures of the cost:

* A/B: CPU per request with the outputs over CPU per request without, per
  pair. It includes every indirect cost, but on a shared machine two runs a
  minute apart differ by several percent whatever they run.
* The outputs' own CPU, counted inside the "with" runs (fleetload runs under
  this file's ``--child`` mode): building the outputs (their imports), their
  start, per-interval and stop calls, and their own threads (the dashboard's
  server, the ``/metrics`` server and its connections, the remote-write
  sender), against the rest of the same run's CPU. No noise between runs, but
  it leaves out indirect costs (the interpreter lock changing hands, caches).

Reported: every run, per variant the median CPU µs/request and its spread
(min-max), both measures per pair with their median and spread. Raw results
go to ``bench/out/outputs_overhead.json``.

    .venv/bin/python bench/outputs_overhead.py [--pairs 3] [--rate 4000] [--duration 60s]
    .venv/bin/python bench/outputs_overhead.py --quick      # 1 pair of 10 s runs

Loopback only, every run bounded in time; nginx, Prometheus and Chromium are
stopped on exit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from nginx import Nginx, die_with_parent, free_port  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
PROMETHEUS = "/usr/bin/prometheus"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GEN_CPU = "0"
SIDE_CPU = "1"  # nginx, Prometheus, Chromium
OUT = BENCH / "out"
MAX_IN_FLIGHT = 1000  # a server hiccup on the shared core does not drop iterations
DASHBOARD_LINE = re.compile(r"live dashboard on (http://\S+)")


@dataclass
class Run:
    variant: str  # "without" | "with"
    pair: int
    rc: int = 0
    wall_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    requests: int = 0
    dropped: int = 0
    dropped_at: list[float] = field(default_factory=list)  # seconds of the run with drops
    lag_p99_ms: float | None = None
    cpu_us_per_req: float = 0.0
    loadavg: str = ""
    other_core0_pct: float = 0.0  # core 0 busy share that was not the generator's
    # "with" runs: what the outputs delivered
    sse_clients: int | None = None
    scraped_total: float | None = None
    remote_written_total: float | None = None
    remote_write: list[dict[str, Any]] = field(default_factory=list)
    csv_requests: float | None = None
    # CPU the extra outputs spent themselves (s): imports/building, start, per
    # interval, stop, their own threads
    output_costs: dict[str, float] = field(default_factory=dict)
    outputs_us_per_req: float = 0.0
    note: str = ""


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration such as 60s or 2m, got {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


def core0_jiffies() -> int:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{GEN_CPU} "):
            v = [int(x) for x in line.split()[1:]]
            return v[0] + v[1] + v[2]  # user + nice + system
    return 0


class Prometheus:
    """One Prometheus on loopback, pinned to the side core: scrapes the runs'
    ``/metrics`` port every second and accepts remote write."""

    def __init__(self, work: Path, scrape_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = work / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: fleetload\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{scrape_port}']\n")
        self.log = (work / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SIDE_CPU, PROMETHEUS, f"--config.file={config}",
             f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.enable-remote-write-receiver"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=die_with_parent)
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not start: {(work / 'prometheus.log').read_text()}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql: str) -> float | None:
        q = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{q}", timeout=10) as r:
            result = json.loads(r.read())["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def open_page(url: str, profile: Path) -> subprocess.Popen[bytes]:
    """A headless Chromium holding ``url`` open (until stopped), on the side core
    at the lowest priority (its start-up must not hold up nginx)."""
    return subprocess.Popen(
        ["taskset", "-c", SIDE_CPU, "nice", "-n", "19", CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
         "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1280,1600", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=lambda: die_with_parent(signal.SIGKILL))


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def running(pid: int) -> bool:
    """The child has not exited (it is left to be reaped by ``os.wait4``)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def established_to(port: int) -> int:
    """Established TCP connections whose server side is 127.0.0.1:port."""
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, state = cols[1], cols[3]
        if state == "01" and local == f"0100007F:{port:04X}":
            n += 1
    return n


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path, nginx_url: str) -> None:
        self.args = args
        self.work = work
        self.url = nginx_url
        self.metrics_port = free_port()
        self.prometheus = Prometheus(work, self.metrics_port)
        if args.rev == "installed":  # the venv's own build (compiled when it could be)
            self.env = dict(os.environ)
            return
        # The committed sources, taken once: edits to the working tree during
        # the benchmark do not change what the runs measure.
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev, "src"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(work, filter="data")
        subprocess.run([PY, "-m", "compileall", "-q", str(work / "src")], check=True)
        self.env = dict(os.environ, PYTHONPATH=str(work / "src"))

    def command(self, out_dir: Path, with_outputs: bool) -> tuple[list[str], int | None]:
        cmd = ["taskset", "-c", GEN_CPU, PY, str(Path(__file__).resolve()), "--child",
               str(out_dir.parent / (out_dir.name + ".costs.json")),
               "run", "--url", self.url, "--rate", f"{self.args.rate:g}",
               "--max-in-flight", str(MAX_IN_FLIGHT),
               "--duration", f"{self.args.duration:g}s", "--workers", "1", "--no-preflight",
               "--quiet", "--allow-inconclusive", "--out", str(out_dir)]
        if not with_outputs:
            return cmd, None
        dash_port = free_port()
        cmd += ["--dashboard", f"127.0.0.1:{dash_port}",
                "-o", f"prometheus=127.0.0.1:{self.metrics_port}",
                "-o", f"prometheus-rw={self.prometheus.url}/api/v1/write",
                "-o", f"csv={out_dir.parent / (out_dir.name + '.csv')}"]
        return cmd, dash_port

    def run(self, variant: str, pair: int) -> Run:
        r = Run(variant, pair, loadavg=" ".join(Path("/proc/loadavg").read_text().split()[:3]))
        out_dir = self.work / f"{variant}-{pair}"
        cmd, dash_port = self.command(out_dir, variant == "with")
        log_path = self.work / f"{variant}-{pair}.log"
        page: subprocess.Popen[bytes] | None = None
        with log_path.open("w+") as log:
            j0, t0 = core0_jiffies(), time.monotonic()
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=self.env, cwd=self.work,
                                    start_new_session=True,
                                    preexec_fn=lambda: die_with_parent(signal.SIGKILL))
            try:
                if dash_port is not None:
                    page = self._attach_page(proc, log_path, pair)
                    if page is not None:
                        time.sleep(min(5.0, self.args.duration / 2))
                        r.sse_clients = established_to(dash_port)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            except BaseException:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                raise
            finally:
                if page is not None:
                    stop_group(page)
            r.wall_s = time.monotonic() - t0
            cpu_jiffies = (core0_jiffies() - j0) / os.sysconf("SC_CLK_TCK")
        r.rc = proc.returncode
        r.user_s, r.sys_s = usage.ru_utime, usage.ru_stime
        own = r.user_s + r.sys_s
        r.other_core0_pct = round(100.0 * max(0.0, cpu_jiffies - own) / r.wall_s, 1)
        summary_path = out_dir / "summary.json"
        if not summary_path.exists():
            r.note = "no summary.json: " + log_path.read_text()[-500:]
            return r
        summary = json.loads(summary_path.read_text())
        m = summary["metrics"]
        r.requests = int(m["http_reqs"]["values"]["count"])
        r.dropped = int((m.get("dropped_iterations") or {}).get("values", {}).get("count", 0))
        r.lag_p99_ms = (m.get("iteration_lag") or {}).get("values", {}).get("p(99)")
        timeline = out_dir / "timeline.jsonl"
        if r.dropped and timeline.exists():
            for line in timeline.read_text().splitlines():
                row = json.loads(line)
                if any(sc.get("dropped") for sc in row["scenarios"].values()):
                    r.dropped_at.append(row["t"])
        r.cpu_us_per_req = own / r.requests * 1e6 if r.requests else 0.0
        costs_path = out_dir.parent / (out_dir.name + ".costs.json")
        if costs_path.exists():
            r.output_costs = {k: round(v, 4) for k, v in json.loads(costs_path.read_text()).items()}
            if r.requests:
                r.outputs_us_per_req = sum(r.output_costs.get(k, 0.0) for k in COST_KINDS) \
                    / r.requests * 1e6
        if variant == "with":
            self._check_outputs(r, summary, out_dir)
        return r

    def _attach_page(self, proc: subprocess.Popen[bytes], log_path: Path,
                     pair: int) -> subprocess.Popen[bytes] | None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and running(proc.pid):
            m = DASHBOARD_LINE.search(log_path.read_text())
            if m:
                return open_page(m.group(1), self.work / f"chromium-{pair}")
            time.sleep(0.05)
        return None

    def _check_outputs(self, r: Run, summary: dict[str, Any], out_dir: Path) -> None:
        run_id = summary["meta"]["run_id"]
        sel = f'run_id="{run_id}"'
        time.sleep(2)  # the last remote write is ingested
        r.scraped_total = self.prometheus.query(
            f'sum(max_over_time(fleetload_http_reqs_total{{{sel},job="fleetload"}}[10m]))')
        r.remote_written_total = self.prometheus.query(
            f'sum(max_over_time(fleetload_http_reqs_total{{{sel},job=""}}[10m]))')
        r.remote_write = list(summary["meta"].get("remote_write") or [])
        csv_path = out_dir.parent / (out_dir.name + ".csv")
        total = 0.0
        for line in csv_path.read_text().splitlines()[1:]:
            cols = line.split(",")
            if cols[2] == "http_reqs" and cols[3] == "count":
                total += float(cols[4])
        r.csv_requests = total
        problems = []
        if not r.sse_clients:
            problems.append("no browser on the dashboard's event stream")
        for what, got in (("scraped", r.scraped_total), ("remote-written", r.remote_written_total),
                          ("csv", r.csv_requests)):
            if got != r.requests:
                problems.append(f"{what} requests {got} != {r.requests}")
        if any(w.get("dropped") for w in r.remote_write):
            problems.append(f"remote write dropped pushes: {r.remote_write}")
        r.note = "; ".join(problems)


# -- inside the generator: what the outputs themselves spend ---------------------------
OUTPUT_THREADS = ("dashboard", "prometheus", "prometheus-rw")


def _scrape_thread(name: str) -> bool:
    """A thread answering /metrics scrapes: one per scrape (socketserver's
    ThreadingMixIn) or one of a pool kept for the run ("prometheus-scrape_N")."""
    return "process_request_thread" in name or name.startswith("prometheus-scrape")
COST_KINDS = ("build", "start", "add_interval", "stop", "threads")


def child(costs_path: str, fleetload_args: list[str]) -> None:
    """Run ``fleetload`` in this process, adding up the CPU the extra outputs
    spend themselves: building them (their imports), their start, per-interval
    and stop calls (on the thread that calls them), and their own threads."""
    import atexit
    import runpy
    import threading

    costs = {"build": 0.0, "start": 0.0, "add_interval": 0.0, "stop": 0.0, "threads": 0.0}
    live: dict[int, str] = {}
    thread_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        if self.name not in OUTPUT_THREADS and not _scrape_thread(self.name):
            thread_run(self)
            return
        live[threading.get_native_id()] = self.name
        try:
            thread_run(self)
        finally:
            spent = time.thread_time()
            costs["threads"] += spent
            kind = "connections" if _scrape_thread(self.name) else self.name
            costs[f"thread {kind}"] = costs.get(f"thread {kind}", 0.0) + spent
            live.pop(threading.get_native_id(), None)

    def timed(fn: Any, key: str, kind: str) -> Any:
        def wrapper(*args: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args)
            finally:
                spent = time.thread_time() - t0
                costs[key] += spent
                costs[f"{key} {kind}"] = costs.get(f"{key} {kind}", 0.0) + spent
        return wrapper

    from fleetload.outputs import registry

    build_output = registry.build_output

    def build(spec: str) -> Any:
        t0 = time.thread_time()
        output = build_output(spec)
        kind = spec.partition("=")[0]
        for method in ("start", "add_interval", "stop"):
            setattr(output, method, timed(getattr(output, method), method, kind))
        costs["build"] += time.thread_time() - t0
        return output

    def write() -> None:
        for tid in list(live):  # threads still running: their CPU so far
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                spent = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                name = live[tid]
                kind = "connections" if _scrape_thread(name) else name
                costs["threads"] += spent
                costs[f"thread {kind}"] = costs.get(f"thread {kind}", 0.0) + spent
            except (OSError, IndexError, ValueError):
                pass
        Path(costs_path).write_text(json.dumps(costs))

    threading.Thread.run = run  # type: ignore[method-assign]
    registry.build_output = build
    atexit.register(write)
    sys.argv = ["fleetload", *fleetload_args]
    runpy.run_module("fleetload", run_name="__main__", alter_sys=True)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


def report(runs: list[Run]) -> dict[str, Any]:
    print()
    print("| pair | variant | requests | dropped | lag p99 ms | user s | sys s | CPU µs/req | "
          "outputs' own CPU s (build, start, intervals, stop, threads) | outputs µs/req | "
          "other core-0 % | load avg | checks |")
    print("|--:|---|--:|--:|--:|--:|--:|--:|---|--:|--:|---|---|")
    for r in runs:
        lag = f"{r.lag_p99_ms:.2f}" if r.lag_p99_ms is not None else "-"
        c = r.output_costs
        own = ", ".join(f"{c.get(k, 0.0):.3f}" for k in COST_KINDS)
        checks = (r.note or "ok") if r.variant == "with" else r.note
        print(f"| {r.pair} | {r.variant} | {r.requests:,} | {r.dropped:,} | {lag} | "
              f"{r.user_s:.2f} | {r.sys_s:.2f} | {r.cpu_us_per_req:.2f} | {own} | "
              f"{r.outputs_us_per_req:.2f} | {r.other_core0_pct:.1f} | {r.loadavg} | {checks} |")
    a = [r.cpu_us_per_req for r in runs if r.variant == "without" and r.requests]
    b = [r.cpu_us_per_req for r in runs if r.variant == "with" and r.requests]
    ratios, shares = [], []
    for p in sorted({r.pair for r in runs}):
        x = [r for r in runs if r.pair == p and r.variant == "without" and r.requests]
        y = [r for r in runs if r.pair == p and r.variant == "with" and r.requests]
        if x and y:
            ratios.append(100.0 * (y[0].cpu_us_per_req / x[0].cpu_us_per_req - 1.0))
        if y:  # the outputs' own CPU against the rest of the same run's
            rest = y[0].cpu_us_per_req - y[0].outputs_us_per_req
            shares.append(100.0 * y[0].outputs_us_per_req / rest)
    print()
    print("| | median | spread (min-max) |")
    print("|---|--:|--:|")
    if a:
        print(f"| without outputs, CPU µs/req | {statistics.median(a):.2f} | {spread(a)} |")
    if b:
        print(f"| with all outputs, CPU µs/req | {statistics.median(b):.2f} | {spread(b)} |")
    if ratios:
        print(f"| A/B: with / without - 1 (per pair), % | {statistics.median(ratios):+.2f} | "
              f"{min(ratios):+.2f} to {max(ratios):+.2f} |")
    if shares:
        print(f"| the outputs' own CPU / the rest of the run's (with runs), % | "
              f"{statistics.median(shares):.2f} | {min(shares):.2f} to {max(shares):.2f} |")
    return {"ab_overhead_pct": ratios, "own_share_pct": shares,
            "median_ab_overhead_pct": statistics.median(ratios) if ratios else None,
            "median_own_share_pct": statistics.median(shares) if shares else None,
            "without_us_per_req": a, "with_us_per_req": b}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=3, help="without/with pairs (ABAB...)")
    ap.add_argument("--rate", type=float, default=4000.0, help="requests/s, open loop")
    ap.add_argument("--duration", type=parse_duration, default=60.0, help="per run, e.g. 60s")
    ap.add_argument("--quick", action="store_true", help="one pair of 10 s runs")
    ap.add_argument("--rev", default="HEAD",
                    help="the commit whose src/ runs (default HEAD; pure Python), or 'installed': "
                         "the package installed in this venv (compiled when it could be)")
    ap.add_argument("--json", default=str(OUT / "outputs_overhead.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.pairs, args.duration = 1, 10.0
    if args.pairs < 1 or args.rate <= 0 or args.duration <= 0:
        ap.error("--pairs, --rate and --duration must be positive")
    for tool in ("taskset", "nginx", PROMETHEUS, CHROMIUM):
        if not shutil.which(tool):
            ap.error(f"{tool} not found")
    work = Path(tempfile.mkdtemp(prefix="outputs-overhead-"))
    runs: list[Run] = []
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if args.rev == "installed":
        from fleetload._build import build
        rev = f"installed ({build()})"
    else:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
                             capture_output=True, text=True, check=True).stdout.strip()
    print(f"# {started}: fleetload {rev} --rate {args.rate:g} --duration {args.duration:g}s, "
          f"{args.pairs} pairs (without, with), generator on core {GEN_CPU}, nginx + "
          f"Prometheus + Chromium on core {SIDE_CPU}", flush=True)
    bench: Bench | None = None
    try:
        with Nginx(cpu=int(SIDE_CPU)) as ng:
            bench = Bench(args, work, ng.url)
            for pair in range(1, args.pairs + 1):
                for variant in ("without", "with"):
                    r = bench.run(variant, pair)
                    runs.append(r)
                    print(f"  pair {pair} {variant:7}: {r.requests:,} req, "
                          f"{r.cpu_us_per_req:.2f} µs/req, rc {r.rc}, other core-0 "
                          f"{r.other_core0_pct:.1f} % {r.note}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if bench is not None:
            bench.prometheus.stop()
        shutil.rmtree(work, ignore_errors=True)
    result = report(runs)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"started": started, "rev": rev, "rate": args.rate, "duration_s": args.duration,
                               "pairs": args.pairs, **result,
                               "runs": [asdict(r) for r in runs]}, indent=2))
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
