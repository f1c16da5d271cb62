#!/usr/bin/env python3
"""Run every benchmark script in bench/ that exists, one after another, with default args.

    .venv/bin/python bench/run_all.py [--list]

Known scripts run first, in this order; any other ``bench/*.py`` script (not a
helper: not this file, nginx.py, python_floor.py, locustfile*.py, or a file starting with ``_``)
follows in name order. Output is passed straight through; the exit code is the
number of scripts that failed (0 if all succeeded).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ORDER = ["engine_peers.py", "http_client_micro.py", "target_ceiling.py"]
HELPERS = {"run_all.py", "nginx.py", "conftest.py", "python_floor.py"}  # helpers of other scripts


def scripts() -> list[Path]:
    found = {
        p.name: p
        for p in BENCH.glob("*.py")
        if p.name not in HELPERS and not p.name.startswith(("_", "locustfile"))
    }
    first = [found.pop(n) for n in ORDER if n in found]
    return first + [found[n] for n in sorted(found)]


def main() -> int:
    todo = scripts()
    if "--list" in sys.argv[1:]:
        print("\n".join(str(p.relative_to(ROOT)) for p in todo))
        return 0
    python = ROOT / ".venv" / "bin" / "python"
    exe = str(python) if python.exists() else sys.executable
    failed = []
    for path in todo:
        print(f"\n===== {path.relative_to(ROOT)} =====", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.call([exe, str(path)], cwd=ROOT)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        print(f"===== {path.name}: exit {rc} in {time.monotonic() - t0:.0f}s =====", flush=True)
        if rc != 0:
            failed.append(path.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
