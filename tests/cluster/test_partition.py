"""A silent network partition: two Linux network namespaces joined by a veth
pair, a Ray head (and the driver) in one, a Ray worker node in the other.
Cutting the link mid-run leaves the cut-off node unpolled: its lease runs out
and it stops generating by itself, measured by the server in its own
namespace; the driver reports the node lost (exit 4).

Root only (it creates namespaces and links); every name carries the test's pid
and everything is deleted in teardown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest.importorskip("ray", reason="ray is not installed (pip install 'fleetload[ray]'): "
                    "the cluster tests need it")

if os.geteuid() != 0:
    pytest.skip("the partition test creates network namespaces and links: it needs root",
                allow_module_level=True)

SCRIPTS = Path(__file__).parent / "scripts"
BIN = Path(sys.executable).parent
LEASE = 3.0
PORT = 18080  # the same port on each namespace's own loopback
GCS_PORT = 6379


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class Namespaces:
    head: str
    node: str
    head_link: str
    node_link: str
    head_ip: str
    node_ip: str
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, ns: str, *cmd: str, log: str) -> subprocess.Popen[bytes]:
        """A process inside ``ns``, in a process group of its own."""
        out = (self.tmp / log).open("wb")
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + str(ROOT),
                   RAY_USAGE_STATS_ENABLED="0")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, ns: str, *cmd: str, timeout: float) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + str(ROOT),
                   RAY_USAGE_STATS_ENABLED="0")
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=timeout, check=False)


def _stop_groups(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process group at once, then SIGKILL to what is left after
    5 s: the partitioned Ray node and the head stop side by side, not in turn
    (the cut-off node never finishes a graceful stop: it cannot reach the head;
    whatever outlives its group is killed with the namespace's pids)."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


def _kill_namespace_pids(ns: str) -> None:
    """What our processes left running inside our own namespace (Ray's workers)."""
    found = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                           timeout=10, check=False).stdout.split()
    for pid in (int(p) for p in found):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def namespaces(tmp_path: Path) -> Iterator[Namespaces]:
    pid = os.getpid()
    net = f"10.213.{pid % 250}"
    ns = Namespaces(head=f"flp{pid}h", node=f"flp{pid}n", head_link=f"flp{pid}h",
                    node_link=f"flp{pid}n", head_ip=f"{net}.1", node_ip=f"{net}.2",
                    tmp=Path(f"/tmp/flp{pid}"))  # short: Ray's socket paths must fit
    ns.tmp.mkdir(exist_ok=True)
    created: list[str] = []
    try:
        for name in (ns.head, ns.node):
            ip("netns", "add", name)
            created.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        ip("link", "add", ns.head_link, "netns", ns.head, "type", "veth",
           "peer", "name", ns.node_link, "netns", ns.node)
        for name, link, addr in ((ns.head, ns.head_link, ns.head_ip),
                                 (ns.node, ns.node_link, ns.node_ip)):
            ip("-n", name, "addr", "add", f"{addr}/24", "dev", link)
            ip("-n", name, "link", "set", link, "up")
            # Ray finds a node's own address by the route out of it.
            ip("-n", name, "route", "add", "default", "dev", link)
        yield ns
    finally:
        _stop_groups(list(reversed(ns.procs)))
        for name in created:
            _kill_namespace_pids(name)
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10,
                           check=False)
        for log in ns.tmp.glob("*.out"):  # kept with the test's files, for a failure
            shutil.copy2(log, tmp_path / log.name)
        shutil.rmtree(ns.tmp, ignore_errors=True)


def _stamps(log: Path) -> list[float]:
    if not log.exists():
        return []
    return [float(line.split()[0]) for line in log.read_text().splitlines()
            if line and line != "ready"]


def _wait(what: str, ready: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


WAIT_NODES = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if sum(1 for n in ray.nodes() if n["Alive"]) >= 2:
        sys.exit(0)
    time.sleep(0.3)
sys.exit(1)
"""


def test_a_partitioned_node_stops_within_its_lease(namespaces: Namespaces,
                                                   tmp_path: Path) -> None:
    ns = namespaces
    began = time.monotonic()
    logs = {name: ns.tmp / f"served-{name}.log" for name in (ns.head, ns.node)}
    for name, log in logs.items():
        ns.start(name, sys.executable, str(SCRIPTS / "stamp_server.py"), str(PORT), str(log),
                 log=f"server-{name}.out")
    for log in logs.values():
        _wait("the servers", lambda log=log: log.exists() and "ready" in log.read_text(), 15)
    gcs = f"{ns.head_ip}:{GCS_PORT}"
    ray = str(BIN / "ray")
    common = ["--num-cpus", "1", "--object-store-memory", str(80 * 1024 * 1024),
              "--disable-usage-stats", "--block"]
    ns.start(ns.head, ray, "start", "--head", "--node-ip-address", ns.head_ip, "--port",
             str(GCS_PORT), "--include-dashboard", "false", "--temp-dir", str(ns.tmp / "h"),
             *common, log="ray-head.out")
    ns.start(ns.node, ray, "start", "--address", gcs, "--node-ip-address", ns.node_ip,
             "--temp-dir", str(ns.tmp / "n"), *common, log="ray-node.out")
    waited = ns.run(ns.head, sys.executable, "-c", WAIT_NODES, gcs, timeout=90)
    assert waited.returncode == 0, (waited.stderr[-2000:],
                                    (ns.tmp / "ray-node.out").read_text()[-2000:])

    out = tmp_path / "run"
    driver = ns.start(ns.head, str(BIN / "fleetload"), "run", str(SCRIPTS / "partition.py"),
                      "-e", f"PORT={PORT}", "--cluster", gcs, "--nodes", "2", "--workers", "1",
                      "--lease", f"{LEASE:g}s", "--max-lag", "1s", "--out", str(out),
                      "--quiet", log="driver.out")
    # Cut once the cut-off node has sent a few seconds of its share (10/s).
    _wait("the node's load", lambda: len(_stamps(logs[ns.node])) >= 30, 90)
    cut = time.time()
    ip("-n", ns.node, "link", "set", ns.node_link, "down")
    ip("-n", ns.head, "link", "set", ns.head_link, "down")

    driver.wait(timeout=60)
    time.sleep(max(0.0, cut + LEASE + 3.0 - time.time()))  # past any stop worth seeing
    driver_out = (ns.tmp / "driver.out").read_text()
    assert driver.returncode == 4, driver_out[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    run = summary["run"]
    assert run["verdict"] == "inconclusive" and run["exit_code"] == 4
    (lost,) = run["lost_nodes"]
    assert lost["address"] == ns.node_ip
    assert run["stopped_by"].startswith(f"node {lost['node']} ({ns.node_ip}) lost: ")
    # The cut-off node stopped by itself within the lease (plus a second) of the cut.
    node_stamps = _stamps(logs[ns.node])
    last = max(node_stamps)
    stop_after_cut = last - cut
    print(f"partition: the cut-off node's last request {stop_after_cut:.2f}s after the cut "
          f"(lease {LEASE:g}s)")
    assert stop_after_cut <= LEASE + 1.0, stop_after_cut
    assert any(t > cut for t in node_stamps)  # it went on alone until its lease ran out
    # The driver's side went on until it stopped the run: the head's server saw it.
    assert max(_stamps(logs[ns.head])) > cut
    assert time.monotonic() - began < 90
