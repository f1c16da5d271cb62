"""gRPC fleet over plaintext, TLS and mutual TLS: what TLS and per-agent client
certificates cost the generator.

    PYTHONPATH=src .venv/bin/python bench/grpc_tls_fleet.py
    PYTHONPATH=src .venv/bin/python bench/grpc_tls_fleet.py --agents 2000 --repeat 3 --case mtls

Cases, each against the reference target (in-memory SQLite, pushes off, pinned
to CPU 1) with ``fleetload run fleet --transport grpc`` pinned to CPU 0:

* ``plain``: plaintext gRPC, agents share channels (``--conn-fanout 50``);
* ``tls``: the target serves TLS (a certificate from a throwaway CA), agents
  share channels (one handshake per 50 agents);
* ``mtls``: the target also requires client certificates (``--client-ca``);
  every agent gets a certificate minted for its hostname
  (``--mint-identities``) and a channel of its own (one handshake per agent).

The fleet registers over ``--ramp`` seconds, then heartbeats every
``--interval`` for ``--steady`` seconds more. Reported per run: registration
duration p50/p99, TLS handshake p50/p99 (``fleet_tls_handshake``), heartbeat
RTT p99, when the ramp was done (every agent through registration; none if it
never was), fleetload's and the target's CPU seconds (utime + stime, whole
run) and fleetload's peak RSS (sampled from /proc every 0.5 s). Markdown table on stdout, every run in
bench/out/grpc_tls_fleet.json.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fleetplane.launch import RunningTarget, free_port, start_target  # noqa: E402

TOKEN = "bench-key"
CASES = ("plain", "tls", "mtls")


def write_pki(directory: Path) -> dict[str, str]:
    """A CA (``ca.pem``, ``ca.key``), a server certificate it signs for
    127.0.0.1 (``server.pem``, ``server.key``) and a client certificate for the
    readiness probe (``probe.pem``, ``probe.key``)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
              .issuer_name(ca_name).public_key(key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                  critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    probe_key = ec.generate_private_key(ec.SECP256R1())
    probe = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "readiness-probe")]))
             .issuer_name(ca_name).public_key(probe_key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
             .sign(ca_key, hashes.SHA256()))
    paths = {name: str(directory / name) for name in ("ca.pem", "ca.key", "server.pem", "server.key",
                                                       "probe.pem", "probe.key")}
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    Path(paths["ca.pem"]).write_bytes(ca.public_bytes(pem))
    Path(paths["ca.key"]).write_bytes(ca_key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    Path(paths["server.pem"]).write_bytes(server.public_bytes(pem))
    Path(paths["server.key"]).write_bytes(key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    Path(paths["probe.pem"]).write_bytes(probe.public_bytes(pem))
    Path(paths["probe.key"]).write_bytes(probe_key.private_bytes(pem, pkcs8,
                                                                 serialization.NoEncryption()))
    return paths


class TlsTarget(RunningTarget):
    """A target serving TLS with the bench CA's certificate; its readiness probe
    presents the probe's client certificate (needed under ``--client-ca``)."""

    probe: tuple[str, str] = ("", "")

    def ssl_context(self) -> ssl.SSLContext | None:
        ctx = super().ssl_context()
        assert ctx is not None
        ctx.load_cert_chain(*self.probe)
        return ctx


def start_tls_target(pki: dict[str, str], extra: list[str]) -> RunningTarget:
    port, grpc_port = free_port(), free_port()
    argv = ["taskset", "-c", "1", sys.executable, "-m", "fleetplane", "target",
            "--db", "sqlite://:memory:", "--auth-secret", TOKEN,
            "--listen", f"127.0.0.1:{port}", "--grpc-listen", f"127.0.0.1:{grpc_port}",
            "--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"], *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    target = TlsTarget(argv, url=f"https://127.0.0.1:{port}", grpc_target=f"127.0.0.1:{grpc_port}",
                       api_key=TOKEN, admin_key=None, env=env, ca_file=pki["ca.pem"],
                       startup_timeout=30.0)
    target.probe = (pki["probe.pem"], pki["probe.key"])
    return target.start()


def _proc(pid: int) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) of ``pid`` from /proc."""
    with open(f"/proc/{pid}/status") as f:
        rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kib / 1024.0, (int(fields[11]) + int(fields[12])) / ticks


def run_case(case: str, pki: dict[str, str], args: argparse.Namespace, out: Path,
             n: int) -> dict[str, Any]:
    extra = ["--push-task-prob", "0", "--push-check-prob", "0", "--push-inventory-prob", "0",
             "--push-terminal-prob", "0", "--push-query-prob", "0", "--renewal-workers", "0"]
    if case == "mtls":
        extra += ["--client-ca", pki["ca.pem"]]
    if case == "plain":
        target = start_target("sqlite://:memory:", auth_secret=TOKEN, cpu=1, extra_args=extra)
    else:
        target = start_tls_target(pki, extra)
    try:
        summary = out / f"summary-{case}-{n}.json"
        scheme = "" if case == "plain" else "grpcs://"
        argv = ["taskset", "-c", "0", sys.executable, "-m", "fleetload", "run", "fleet",
                "--transport", "grpc", "--agents", str(args.agents),
                "--grpc-target", scheme + target.grpc_target, "--token", TOKEN,
                "--ramp", f"{args.ramp}s", "--duration", f"{args.ramp + args.steady}s",
                "--heartbeat-interval", f"{args.interval}s", "--registration-concurrency", "64",
                "--no-tasks", "--no-checks", "--no-inventory", "--no-terminal", "--no-queries",
                "--results-dir", str(out / "runs"), "--summary-export", str(summary),
                "--quiet", "--rtt-p95", "100000"]
        if case != "plain":
            argv += ["--ca-cert", pki["ca.pem"]]
        if case == "mtls":
            argv += ["--mint-identities", f"{pki['ca.pem']},{pki['ca.key']}"]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        peak_rss, cpu, target_cpu = 0.0, 0.0, 0.0
        target_cpu0 = _proc(target.pid)[1]
        while proc.poll() is None:
            try:
                rss, cpu = _proc(proc.pid)
                peak_rss = max(peak_rss, rss)
                target_cpu = _proc(target.pid)[1] - target_cpu0
            except (OSError, StopIteration, IndexError):
                pass
            time.sleep(0.5)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        target.stop()
    data = json.loads(summary.read_text())
    fleet = data["scenarios"]["fleet"]["fleet"]
    reg = data["metrics"].get("fleet_registration_duration", {}).get("values", {})
    hs = fleet.get("tls_handshake") or {}
    return {
        "case": case, "run": n, "agents": args.agents, "exit": proc.returncode,
        "regs_active": fleet["registrations"]["active"],
        "reg_p50_ms": reg.get("med"), "reg_p99_ms": reg.get("p(99)"),
        "handshakes": hs.get("count", 0), "handshake_p50_ms": hs.get("p50"),
        "handshake_p99_ms": hs.get("p99"),
        "rtt_p99_ms": (fleet.get("heartbeat_rtt") or {}).get("p99"),
        "hb_sent": fleet["heartbeats"]["sent"], "hb_failed": fleet["heartbeats"]["failed"],
        "ramp_done_s": fleet.get("ramp_done_s"), "cpu_s": cpu, "target_cpu_s": target_cpu,
        "peak_rss_mib": peak_rss, "errors": fleet["errors"][:3],
        "stderr_tail": err[-500:] if proc.returncode not in (0, 99) else "",
    }


def _med(rows: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds")
    ap.add_argument("--interval", type=float, default=5.0, help="heartbeat interval, seconds")
    ap.add_argument("--steady", type=float, default=10.0, help="seconds after the ramp")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--case", action="append", choices=CASES, help="default: all")
    args = ap.parse_args()
    cases = args.case or list(CASES)
    out = Path(tempfile.mkdtemp(prefix="grpc-tls-bench-"))
    pki = write_pki(out)
    rows: list[dict[str, Any]] = []
    for n in range(args.repeat):
        for case in cases:  # interleaved, so drift on a shared machine hits every case
            row = run_case(case, pki, args, out, n)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\n{args.agents:,} gRPC agents, ramp {args.ramp:g}s, heartbeat {args.interval:g}s, "
          f"{args.steady:g}s after the ramp; median (min-max) of {args.repeat} runs\n")
    print("| case | regs active | registration p50 / p99 ms | handshakes | handshake p50 / p99 ms "
          "| rtt p99 ms | ramp done s | CPU s | target CPU s | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        rs = [r for r in rows if r["case"] == case]
        print(f"| {case} | {_med(rs, 'regs_active')} | {_med(rs, 'reg_p50_ms')} / "
              f"{_med(rs, 'reg_p99_ms')} | {_med(rs, 'handshakes')} | "
              f"{_med(rs, 'handshake_p50_ms')} / {_med(rs, 'handshake_p99_ms')} | "
              f"{_med(rs, 'rtt_p99_ms')} | {_med(rs, 'ramp_done_s')} | {_med(rs, 'cpu_s')} | "
              f"{_med(rs, 'target_cpu_s')} | {_med(rs, 'peak_rss_mib')} |")
    dest = ROOT / "bench" / "out" / "grpc_tls_fleet.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps({"args": vars(args), "runs": rows}, indent=1))
    print(f"\nruns: {dest}")


if __name__ == "__main__":
    main()
