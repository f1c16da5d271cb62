"""Micro-benchmark of fleetload's HTTP client against nginx, on one core each.

nginx (``return 200 "ok"``, ``keepalive_requests 1000000``, ``access_log off``)
runs pinned with ``taskset -c 1``; the client runs in a process pinned with
``taskset -c 0`` on uvloop: N coroutines each looping ``await client.get(url)``
for D seconds. Prints req/s and user/system CPU µs per request, the median of
R runs, and the same for ``wrk -t1 -cN`` on core 0 for comparison.

    .venv/bin/python bench/http_client_micro.py [--duration 10] [--concurrency 50] [--runs 3]
    .venv/bin/python bench/http_client_micro.py --mode raw   # lean Protocol+httptools baseline
    .venv/bin/python bench/http_client_micro.py --profile    # cProfile one short run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.nginx import NGINX, Nginx  # noqa: E402


# -- worker side (runs pinned to core 0) -----------------------------------------------
def worker(url: str, duration: float, concurrency: int, mode: str, profile: bool) -> None:
    import asyncio
    import resource

    import uvloop

    sys.path.insert(0, str(ROOT / "src"))
    from fleetload.protocols.http import HttpClient

    async def run_client() -> tuple[int, int, float, resource.struct_rusage,
                                    resource.struct_rusage]:
        client = HttpClient()
        for _ in range(concurrency):  # warm: open the connections
            await client.get(url)
        stop = False
        count = 0
        errors = 0

        async def loop_one() -> None:
            nonlocal count, errors
            get = client.get
            n = 0
            e = 0
            while not stop:
                r = await get(url)
                n += 1
                if r.error is not None:
                    e += 1
            count += n
            errors += e

        tasks = [asyncio.ensure_future(loop_one()) for _ in range(concurrency)]
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        await asyncio.sleep(duration)
        stop = True
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        await client.close()
        return count, errors, elapsed, ru0, ru1

    async def run_raw() -> tuple[int, int, float, resource.struct_rusage,
                                 resource.struct_rusage]:
        # the lean baseline: one Protocol per connection, re-sending on completion
        import httptools

        host, _, rest = url.split("://", 1)[1].partition("/")
        h, _, p = host.partition(":")
        req = f"GET /{rest} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: raw\r\n\r\n".encode()
        counter = [0]
        stop = [False]

        class P(asyncio.Protocol):
            def connection_made(self, tr: asyncio.BaseTransport) -> None:
                self.tr = tr
                self.parser = httptools.HttpResponseParser(self)
                tr.write(req)  # type: ignore[attr-defined]

            def data_received(self, data: bytes) -> None:
                self.parser.feed_data(data)

            def on_message_complete(self) -> None:
                counter[0] += 1
                if not stop[0]:
                    self.tr.write(req)  # type: ignore[attr-defined]

        loop = asyncio.get_running_loop()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        trs = [(await loop.create_connection(P, h, int(p)))[0] for _ in range(concurrency)]
        await asyncio.sleep(duration)
        stop[0] = True
        elapsed = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        for tr in trs:
            tr.close()
        return counter[0], 0, elapsed, ru0, ru1

    fn = run_raw if mode == "raw" else run_client
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        res = uvloop.run(fn())
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    else:
        res = uvloop.run(fn())
    count, errors, elapsed, ru0, ru1 = res
    print(json.dumps({
        "requests": count,
        "errors": errors,
        "elapsed": elapsed,
        "rps": count / elapsed,
        "user_us_per_req": (ru1.ru_utime - ru0.ru_utime) / max(count, 1) * 1e6,
        "sys_us_per_req": (ru1.ru_stime - ru0.ru_stime) / max(count, 1) * 1e6,
    }))


# -- driver --------------------------------------------------------------------------------
def run_worker(url: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--worker", url,
           "--duration", str(args.duration), "--concurrency", str(args.concurrency),
           "--mode", args.mode]
    if args.profile:
        cmd.append("--profile")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    if args.profile:
        print(out)
    return dict(json.loads(out.strip().splitlines()[-1]))


def run_wrk(url: str, args: argparse.Namespace) -> float:
    cmd = ["taskset", "-c", "0", "wrk", "-t1", f"-c{args.concurrency}",
           f"-d{int(args.duration)}s", url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", choices=["client", "raw"], default="client")
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile one run (slower)")
    ap.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.duration, args.concurrency, args.mode, args.profile)
        return
    if not os.path.exists(NGINX) or shutil.which("taskset") is None:
        raise SystemExit("needs /usr/sbin/nginx and taskset")
    if args.profile:
        args.runs = 1
        args.no_wrk = True
    with tempfile.TemporaryDirectory(prefix="fleetload-bench-") as tmp, \
            Nginx(tmp, 'location / { return 200 "ok"; }', cpu=1, connections=8192,
                  keepalive_timeout="120s") as nginx:
        url = nginx.url + "/"
        results = []
        for i in range(args.runs):
            r = run_worker(url, args)
            results.append(r)
            print(f"run {i + 1}: {r['rps']:,.0f} req/s  user {r['user_us_per_req']:.2f} µs/req  "
                  f"sys {r['sys_us_per_req']:.2f} µs/req  errors {r['errors']}", flush=True)
        med = sorted(results, key=lambda r: r["rps"])[len(results) // 2]
        print(f"fleetload {args.mode} (median of {args.runs}, c={args.concurrency}, "
              f"{args.duration:g}s): {med['rps']:,.0f} req/s, "
              f"user {med['user_us_per_req']:.2f} µs/req, sys {med['sys_us_per_req']:.2f} µs/req")
        if not args.no_wrk:
            wrk = [run_wrk(url, args) for _ in range(args.runs)]
            print(f"wrk -t1 -c{args.concurrency} (median of {args.runs}): "
                  f"{statistics.median(wrk):,.0f} req/s  (runs: "
                  + ", ".join(f"{w:,.0f}" for w in wrk) + ")")


if __name__ == "__main__":
    main()
