#!/usr/bin/env python3
"""Instructions per request of fleetload's engine: a measure the machine's noise cannot move.

Wall-clock and CPU-time benchmarks on a shared 2-core machine vary by tens of
percent from one minute to the next, even for pure computation. Counting
instructions with valgrind's callgrind does not: the same code on the same
input executes the same instructions. This runs the whole engine (executor,
VU loop, scenario coroutine, ``vu.http``, HTTP client, connection, httptools
parsing, metric recording, binning, summary) against an in-process fake
transport that answers every request at once with a canned nginx-like
response, so no kernel work is counted, and reports

    (instructions of a run of N2 iterations - those of N1) / (N2 - N1)

which removes start-up and the summary, for the whole process and for its
event-loop thread alone. Work done per second of wall time (the binning
thread's ten folds a second, interval snapshots, the 100 ms connection
sweeper) runs ~50x more often per request under valgrind than in a real run,
and more still when the machine is busy (valgrind gets less of a core, so
fewer requests share each fold): the whole-process figure overstates the
per-request cost and moves with the machine's load (by a third between an
idle and a busy machine); the event-loop thread's figure (the hot path: the
VU loop, the scenario coroutine, the client, the connection, the parser, the
recording) barely moves. Both are for comparing builds, not absolute speed.

    .venv/bin/python bench/engine_instructions.py [--n1 2000] [--n2 12000]
        [--scenarios get,post_json]

It measures the build that ``.venv/bin/python`` imports (first line of the
output; ``PYTHONPATH=<a tree without the .so files>/src`` for the pure-Python
build of a compiled checkout).

Scenarios: ``get`` (the one-liner's ``await vu.http.request("GET", url)``),
``post_json`` (``vu.http.post(url, json={...}, name=...)`` plus a ``check``).
Needs valgrind (Debian package ``valgrind``). Takes about a minute per scenario.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = str(ROOT / ".venv" / "bin" / "python")
OUT = BENCH / "out"

# Runs fleetload in-process with uvloop's create_connection replaced by a fake
# transport: each write is answered on the next loop pass.
FAKE_RUNNER = r'''
import asyncio, sys
import uvloop

RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
            b"Content-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}")


class FakeTransport(asyncio.Transport):
    def __init__(self, loop, protocol):
        super().__init__()
        self._loop, self._protocol, self._closed = loop, protocol, False

    def write(self, data):
        self._loop.call_soon(self._protocol.data_received, RESPONSE)

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def abort(self):
        self.close()

    def close(self):
        if not self._closed:
            self._closed = True
            self._loop.call_soon(self._protocol.connection_lost, None)

    def is_closing(self):
        return self._closed

    def get_extra_info(self, name, default=None):
        return default


async def fake_create_connection(self, factory, host=None, port=None, **kw):
    protocol = factory()
    transport = FakeTransport(self, protocol)
    protocol.connection_made(transport)
    return transport, protocol

uvloop.Loop.create_connection = fake_create_connection

from fleetload.cli.main import main
sys.argv = ["fleetload", *sys.argv[1:]]
main()
'''

SCENARIOS = {
    "get": '''
@scenario(SharedIterations(vus=50, iterations=N, max_duration="900s"))
async def default(vu):
    await vu.http.request("GET", URL)
''',
    "post_json": '''
@scenario(SharedIterations(vus=50, iterations=N, max_duration="900s"))
async def default(vu):
    r = await vu.http.post(URL + "api/v1/agents/ag-1/heartbeat", name="heartbeat",
                           json={"version": "2.1.0", "seq": vu.iteration})
    check(r, {"2xx": lambda r: 200 <= r.status < 300})
''',
}

SCRIPT_HEAD = '''
import fleetload
from fleetload import SharedIterations, check, scenario

N = int(fleetload.env["N"])
URL = "http://127.0.0.1:9/"
'''


def _summary_ir(path: Path) -> int:
    m = re.search(r"^(?:summary|totals):\s+(\d+)", path.read_text() if path.exists() else "",
                  re.M)
    return int(m.group(1)) if m else -1


def instructions(work: Path, scenario: str, n: int) -> tuple[int, int, int]:
    """(instructions of the process, of its event-loop thread, requests) of one
    run under callgrind."""
    script = work / f"{scenario}.py"
    script.write_text(SCRIPT_HEAD + SCENARIOS[scenario])
    runner = work / "fake_runner.py"
    runner.write_text(FAKE_RUNNER)
    out_dir = work / f"out-{scenario}-{n}"
    cg_out = work / f"callgrind-{scenario}-{n}.out"
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
           f"--callgrind-out-file={cg_out}", PY, str(runner),
           "run", str(script), "-e", f"N={n}", "--quiet", "--no-preflight", "--out",
           str(out_dir)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    # one file per thread: -01 is the main thread, which runs the event loop
    threads = sorted(work.glob(f"{cg_out.name}-*"))
    counts = [_summary_ir(t) for t in threads]
    summary = out_dir / "summary.json"
    if p.returncode not in (0, 99) or not counts or min(counts) < 0 or not summary.exists():
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
        raise SystemExit(f"{scenario} N={n}: run failed (rc={p.returncode}):\n{tail}")
    reqs = int(json.loads(summary.read_text())["metrics"]["http_reqs"]["values"]["count"])
    main_thread = counts[0]
    for t in threads:
        t.unlink()
    return sum(counts), main_thread, reqs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n1", type=int, default=2000)
    ap.add_argument("--n2", type=int, default=12000)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--json", default=str(OUT / "engine_instructions.json"))
    args = ap.parse_args()
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if not args.n2 > args.n1 > 0:
        ap.error("need 0 < --n1 < --n2")
    if not shutil.which("valgrind"):
        ap.error("valgrind not found (Debian package valgrind)")
    probe = subprocess.run([PY, "-c", "from fleetload._build import build; print(build())"],
                           capture_output=True, text=True)
    build = probe.stdout.strip() if probe.returncode == 0 else "pure Python (before _build)"
    print(f"fleetload build: {build}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="engine-instr-") as tmp:
        work = Path(tmp)
        for sc in wanted:
            (i1, l1, r1), (i2, l2, r2) = (instructions(work, sc, n) for n in (args.n1, args.n2))
            per = (i2 - i1) / (r2 - r1)
            loop = (l2 - l1) / (r2 - r1)
            results[sc] = {"n1": r1, "n2": r2, "instructions_n1": i1, "instructions_n2": i2,
                           "instructions_per_request": round(per),
                           "event_loop_instructions_n1": l1, "event_loop_instructions_n2": l2,
                           "event_loop_instructions_per_request": round(loop)}
            print(f"{sc:10s} {per:10,.0f} instructions per request, {loop:,.0f} of them on the "
                  f"event loop (runs of {r1:,} and {r2:,} requests)", flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(sys.argv), "build": build,
                               "results": results}, indent=2))
    print(f"raw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
