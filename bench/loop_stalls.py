#!/usr/bin/env python3
"""Loop stalls: when, and for how long, fleetload's event loop could not run.

Runs ``fleetload ARGS...`` in this process with a probe on every event loop it
creates: an ``engine.alarm.Alarm`` (a ``timerfd`` on Linux) armed every
``--tick-ms``; a wake-up later than ``--threshold-ms`` past its instant is a
stall. Garbage collections longer than 0.5 ms are recorded too. At the end
(on stderr): the stalls inside the window (``--skip`` seconds after the
start, ``--skip`` before the end), their total, where they fall within each
100 ms (a periodic source shows as a peak), the largest, and the GC pauses.

    .venv/bin/python bench/loop_stalls.py [--tick-ms 0.5] [--threshold-ms 0.7] \\
        -- run --url http://127.0.0.1:PORT/ --rate 10000 --duration 7s --quiet --out DIR

Without a command it starts its own nginx on core 1 (``bench/nginx.py``), pins
itself to core 0 and runs ``run --url NGINX --rate 10000 --max-in-flight 1000
--duration 7s --quiet --no-preflight`` into a temporary directory.

The probe's own wake-ups (2,000 a second by default) cost the run some CPU:
compare stalls between builds, not the run's other figures.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import gc
import os
import runpy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from fleetload.engine.alarm import Alarm

T0 = time.perf_counter()
stalls: list[tuple[float, float]] = []  # (seconds from start, how late in seconds)
gc_pauses: list[tuple[float, int, float]] = []  # (seconds from start, generation, seconds)


def probe(tick: float, threshold: float) -> None:
    """Install the probe on every uvloop loop created from now on."""
    new_loop = uvloop.new_event_loop

    def probed() -> asyncio.AbstractEventLoop:
        loop = new_loop()
        state: dict[str, Any] = {}

        def fire() -> None:
            now = time.perf_counter()
            if now - state["due"] > threshold:
                stalls.append((now - T0, now - state["due"]))
            state["due"] = now + tick
            state["alarm"].arm(state["due"])

        def begin() -> None:
            state["alarm"] = Alarm(loop, fire)
            state["due"] = time.perf_counter() + tick
            state["alarm"].arm(state["due"])

        loop.call_soon(begin)
        return loop

    uvloop.new_event_loop = probed  # type: ignore[assignment]

    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            took = time.perf_counter() - started[0]
            if took > 0.0005:
                gc_pauses.append((time.perf_counter() - T0, int(info["generation"]), took))

    gc.callbacks.append(on_gc)


def report(skip: float) -> None:
    end = time.perf_counter() - T0
    window = [(t, late) for t, late in stalls if skip <= t <= end - skip]
    out = sys.stderr
    print(f"loop stalls between {skip:g}s and {end - skip:.1f}s: {len(window)}, "
          f"{sum(late for _, late in window) * 1e3:.1f} ms in all", file=out)
    if window:
        phases = collections.Counter(int((t % 0.1) * 100) for t, _ in window)
        print("  by 10 ms slot of each 100 ms: "
              + ", ".join(f"{k * 10}-{k * 10 + 10} ms: {v}" for k, v in sorted(phases.items())),
              file=out)
        largest = sorted(window, key=lambda s: s[1])[-10:]
        print("  largest (at s, ms late): "
              + ", ".join(f"{t:.3f}s {late * 1e3:.2f}" for t, late in largest), file=out)
    print(f"GC pauses over 0.5 ms: {len(gc_pauses)}"
          + "".join(f"; {t:.3f}s gen{g} {d * 1e3:.2f} ms" for t, g, d in gc_pauses[:20]),
          file=out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tick-ms", type=float, default=0.5)
    ap.add_argument("--threshold-ms", type=float, default=0.7)
    ap.add_argument("--skip", type=float, default=1.5,
                    help="seconds left out at each end (start-up, summary)")
    ap.add_argument("fleetload_args", nargs=argparse.REMAINDER,
                    help="after --: the fleetload command line (run ...)")
    args = ap.parse_args()
    rest = [a for a in args.fleetload_args if a != "--"] if args.fleetload_args else []
    probe(args.tick_ms / 1e3, args.threshold_ms / 1e3)
    if rest:
        atexit.register(report, args.skip)
        _fleetload(rest)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from nginx import Nginx

    os.sched_setaffinity(0, {0})
    with Nginx(cpu=1) as ng, tempfile.TemporaryDirectory(prefix="loop-stalls-") as tmp:
        try:
            _fleetload(["run", "--url", ng.url, "--rate", "10000", "--max-in-flight", "1000",
                        "--duration", "7s", "--quiet", "--no-preflight", "--out",
                        str(Path(tmp) / "out")])
        except SystemExit as exc:  # the CLI exits; the report and clean-up still run
            report(args.skip)
            raise SystemExit(exc.code) from None


def _fleetload(argv: list[str]) -> None:
    sys.argv = ["fleetload", *argv]
    runpy.run_module("fleetload", run_name="__main__")


if __name__ == "__main__":
    main()
