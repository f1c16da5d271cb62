"""What per-agent client identities cost the generator, per agent, on one core.

    .venv/bin/python bench/identity_cost.py [--agents 2000] [--repeats 5]

Four steps, each timed over ``--agents`` agents, ``--repeats`` times (median and
spread reported):

* ``mint``: ``MintedIdentities.identity`` (EC P-256 key + certificate signed by
  an EC P-256 CA), what ``--mint-identities`` does per agent during the ramp;
* ``dir-load``: ``DirIdentities.load`` of a directory of ``--agents`` pairs
  (read + PEM parse + key/certificate match), what ``--identities`` costs at
  start, once per process; ``dir-load-again``: a later plan build in the same
  process (the files' stat only);
* ``context``: a TLS client context presenting one identity (``SSLContext`` +
  the CA + ``load_client_identity`` through an in-memory file), what each
  agent with an identity builds once;
* ``context-system-bundle``: the same with ``ssl.create_default_context()``
  (the whole system CA bundle parsed), for comparison.
"""

from __future__ import annotations

import argparse
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from fleetload.fleet import identity_sources  # noqa: E402
from fleetload.fleet.identity_sources import DirIdentities, MintedIdentities  # noqa: E402
from fleetload.protocols.http.tls import load_client_identity  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n = args.agents
    with tempfile.TemporaryDirectory(prefix="identity-cost-") as tmp:
        ca = TestCA.create()
        ca_cert, ca_key = ca.write(Path(tmp))
        pairs = Path(tmp) / "pairs"
        for i in range(n):
            ca.client(f"agent-{i:05d}").write(pairs, f"agent-{i:05d}")
        one = ca.client("agent")

        def mint() -> None:
            source = MintedIdentities(str(ca_cert), str(ca_key))
            for i in range(n):
                source.identity(i, f"agent-{i:05d}")

        def dir_load() -> None:
            identity_sources._LOADED.clear()  # a fresh process: nothing checked yet
            DirIdentities.load(str(pairs), n)

        def dir_load_again() -> None:
            DirIdentities.load(str(pairs), n)

        def context() -> None:
            for _ in range(n):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(cafile=str(ca_cert))
                load_client_identity(ctx, one.cert_pem, one.key_pem)

        def context_bundle() -> None:
            for _ in range(max(1, n // 20)):
                ctx = ssl.create_default_context()
                load_client_identity(ctx, one.cert_pem, one.key_pem)

        steps: list[tuple[str, Callable[[], None], int]] = [
            ("mint", mint, n), ("dir-load", dir_load, n),
            ("dir-load-again", dir_load_again, n), ("context", context, n),
            ("context-system-bundle", context_bundle, max(1, n // 20))]
        print(f"# {n} agents, {args.repeats} repeats, pid {os.getpid()}, python {sys.version.split()[0]}, "
              f"{ssl.OPENSSL_VERSION}")
        print("| step | per agent, each run (ms) | median (ms) | spread (max-min, ms) | agents/s (median) |")
        print("|---|---|---|---|---|")
        for name, fn, count in steps:
            per = [timed(fn) / count * 1000 for _ in range(args.repeats)]
            med = statistics.median(per)
            runs = " ".join(f"{p:.3f}" for p in per)
            print(f"| {name} | {runs} | {med:.3f} | {max(per) - min(per):.3f} | {1000 / med:,.0f} |")


if __name__ == "__main__":
    main()
