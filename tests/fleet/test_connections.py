"""HTTP fleets with their own connections (``--connections per-agent|per-beat``),
source addresses and client identities, seen from the server side: nginx in
front of the reference target logs each request's connection serial, peer
address and client certificate subject."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetload.fleet import source_addresses
from fleetplane.launch import RunningTarget
from tests.support.nginx import Nginx, start_nginx
from tests.support.pki import TestCA

from .conftest import API_KEY, ROOT, FleetRun, _env, finish_fleet

LOG_FORMAT = '$connection $remote_addr "$request_method $uri" "$ssl_client_s_dn"'
LINE = re.compile(r'^(\d+) (\S+) "(\S+) (\S+)" "(.*)"$')
PROXY = """location / {
    proxy_pass %s;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
}"""


@dataclass(frozen=True)
class Logged:
    connection: int
    peer: str
    method: str
    uri: str
    subject: str


@dataclass
class Proxy:
    url: str
    nginx: Nginx

    def log(self) -> list[Logged]:
        out = []
        for line in self.nginx.access_log():
            m = LINE.match(line)
            assert m, line
            out.append(Logged(int(m[1]), m[2], m[3], m[4], m[5]))
        return out


@contextlib.contextmanager
def proxy(directory: Path, target: RunningTarget, *, tls: tuple[Path, Path, Path] | None = None
          ) -> Iterator[Proxy]:
    """nginx on a free loopback port proxying to ``target``; with ``tls`` (server
    certificate, key, client CA) it serves https and requires client certificates."""
    with start_nginx(directory, PROXY % target.url, tls=tls, log_format=LOG_FORMAT,
                     connections=2048, keepalive_timeout="600s") as ng:
        (directory / "access.log").write_text("")  # the readiness probe above logs nothing
        yield Proxy(ng.url, ng)


def run_http_fleet(url: str, tmp: Path, *args: str, timeout: float = 120) -> FleetRun:
    argv = [sys.executable, "-m", "fleetload", "run", "fleet", "--transport", "http",
            "--target", url, "--token", API_KEY, "--results-dir", str(tmp / "results"),
            "--summary-export", str(tmp / "summary.json"), "--stats-interval", "1s",
            "--allow-inconclusive", "--no-preflight", *args]
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return finish_fleet(proc, tmp, timeout)


def agent_of(uri: str) -> str | None:
    m = re.match(r"^/api/v1/agents/([^/]+)/", uri)
    return m[1] if m else None


def http_reqs(run: FleetRun) -> int:
    assert run.summary is not None
    return int(run.summary["metrics"]["http_reqs"]["values"]["count"])


FAST = ("--heartbeat-interval", "1s", "--work-poll-interval", "2s", "--jitter", "0")


# -- per-agent ---------------------------------------------------------------------------
def test_per_agent_each_agent_holds_one_connection(target: RunningTarget, tmp_path: Path) -> None:
    with proxy(tmp_path / "nginx", target) as px:
        run = run_http_fleet(px.url, tmp_path, "--agents", "6", "--duration", "5s",
                             "--connections", "per-agent", *FAST)
        log = px.log()
    assert run.code == 0, run.stderr[-3000:]
    by_conn: dict[int, list[Logged]] = defaultdict(list)
    for entry in log:
        by_conn[entry.connection].append(entry)
    assert len(by_conn) == 6, sorted(by_conn)
    agents_seen = set()
    for conn, entries in by_conn.items():
        # the registration opens the connection; everything else of that agent follows on it
        assert (entries[0].method, entries[0].uri) == ("POST", "/api/v1/agents"), entries[:2]
        ids = {agent_of(e.uri) for e in entries[1:]}
        assert len(ids) == 1 and None not in ids, (conn, ids)
        agents_seen |= ids
        beats = [e for e in entries if e.uri.endswith("/heartbeat")]
        assert len(beats) >= 3, (conn, len(beats))
    assert len(agents_seen) == 6
    assert len(log) == http_reqs(run)
    conns = run.fleet["connections"]
    assert conns["opened"] == 6 and conns["open"] == 0 and conns["connect_errors"] == {}
    assert "connections per-agent" in run.stdout + run.stderr


def test_per_beat_opens_a_connection_for_every_request(target: RunningTarget,
                                                       tmp_path: Path) -> None:
    with proxy(tmp_path / "nginx", target) as px:
        run = run_http_fleet(px.url, tmp_path, "--agents", "4", "--duration", "4s",
                             "--connections", "per-beat", *FAST)
        log = px.log()
    assert run.code == 0, run.stderr[-3000:]
    per_conn = Counter(e.connection for e in log)
    assert set(per_conn.values()) == {1}, per_conn.most_common(3)
    registrations = sum(1 for e in log if (e.method, e.uri) == ("POST", "/api/v1/agents"))
    beats = sum(1 for e in log if e.uri.endswith("/heartbeat"))
    polls = sum(1 for e in log if e.uri.endswith("/work"))
    assert registrations == 4
    # every registration, heartbeat (the first of each agent included) and poll: its own connection
    assert len(per_conn) == registrations + beats + polls == http_reqs(run)
    assert run.fleet["heartbeats"]["sent"] == beats
    assert run.fleet["connections"]["opened"] == len(per_conn)


# -- source addresses ---------------------------------------------------------------------
def test_source_addresses_round_robin(target: RunningTarget, tmp_path: Path) -> None:
    with proxy(tmp_path / "nginx", target) as px:
        run = run_http_fleet(px.url, tmp_path, "--agents", "20", "--duration", "3s",
                             "--connections", "per-agent",
                             "--source-addresses", "127.0.0.2-127.0.0.5", *FAST)
        log = px.log()
    assert run.code == 0, run.stderr[-3000:]
    peers = {e.connection: e.peer for e in log}
    assert len(peers) == 20
    assert Counter(peers.values()) == {"127.0.0.2": 5, "127.0.0.3": 5, "127.0.0.4": 5,
                                       "127.0.0.5": 5}


def test_exhausted_ports_refused_before_the_run(target: RunningTarget, tmp_path: Path) -> None:
    ports = source_addresses.ephemeral_ports()
    agents = 2 * ports + 1
    run = run_http_fleet(target.url, tmp_path, "--agents", str(agents), "--duration", "2s",
                         "--connections", "per-agent", "--ramp", "60s",
                         "--source-addresses", "127.0.0.2,127.0.0.3")
    assert run.code == 2, (run.code, run.stderr[-2000:])
    port = target.url.rsplit(":", 1)[1]
    assert (f"--source-addresses: 2 addresses give at most {2 * ports:,} connections to "
            f"127.0.0.1:{port}; {agents:,} agents need {agents:,}: add addresses") in run.stderr
    assert "Traceback" not in run.stderr


def test_unassignable_source_address_is_one_clear_error(target: RunningTarget,
                                                        tmp_path: Path) -> None:
    run = run_http_fleet(target.url, tmp_path, "--agents", "2", "--duration", "2s",
                         "--connections", "per-agent",
                         "--source-addresses", "127.0.0.2,192.0.2.1")
    assert run.code == 2
    assert ("--source-addresses: 192.0.2.1 is not assignable on this host "
            "(Cannot assign requested address)") in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--connections", "pooled"),
     "--connections must be shared, per-agent or per-beat, got 'pooled'"),
    (("--source-addresses", "127.0.0.2-127.0.0.3"),
     "--source-addresses needs --connections per-agent or per-beat"),
    (("--connections", "per-agent", "--source-addresses", "127.0.0.9-127.0.0.2"),
     "--source-addresses: '127.0.0.9-127.0.0.2': a range must go up (first-last)"),
    (("--connections", "per-agent", "--source-addresses", "127.0.0.2,nowhere"),
     "--source-addresses: 'nowhere': 'nowhere' is not an IP address"),
    (("--connections", "per-agent", "--source-addresses", "::1"),
     "--source-addresses: ::1 is IPv6, the target 127.0.0.1:"),
])
def test_bad_connection_options(target: RunningTarget, tmp_path: Path, args: tuple[str, ...],
                                message: str) -> None:
    run = run_http_fleet(target.url, tmp_path, "--agents", "2", "--duration", "2s", *args)
    assert run.code == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_connections_apply_to_http_agents_only(target: RunningTarget, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "fleetload", "run", "fleet", "--transport", "grpc",
            "--target", target.url, "--grpc-target", target.grpc_target, "--token", API_KEY,
            "--agents", "2", "--duration", "1s", "--connections", "per-beat"]
    out = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 2
    assert ("--connections and --source-addresses apply to HTTP agents (--transport http); "
            "these agents speak grpc") in out.stderr


@pytest.mark.parametrize(("spec", "expected"), [
    ("127.0.0.2-127.0.0.5", ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]),
    ("127.0.0.2, 127.0.0.7", ["127.0.0.2", "127.0.0.7"]),
    ("127.0.0.0/30", ["127.0.0.1", "127.0.0.2"]),
    ("127.0.0.9/32", ["127.0.0.9"]),
    ("::1", ["::1"]),
    ("fd00::1-fd00::3", ["fd00::1", "fd00::2", "fd00::3"]),
])
def test_source_address_specs(spec: str, expected: list[str]) -> None:
    assert source_addresses.parse(spec) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("", "--source-addresses '': empty item"),
    ("127.0.0.2,127.0.0.2", "--source-addresses '127.0.0.2,127.0.0.2': an address is listed twice"),
    ("127.0.0.1-::1", "--source-addresses: '127.0.0.1-::1': a range's ends must both be IPv4 or both IPv6"),
    ("10.0.0.0/8", "--source-addresses: '10.0.0.0/8': more than 65,536 addresses"),
])
def test_bad_source_address_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        source_addresses.parse(spec)
    assert str(err.value) == message


def test_port_arithmetic() -> None:
    assert source_addresses.per_agent_problem(56_000, 2, "127.0.0.1:8443", ports=28_000) is None
    assert source_addresses.per_agent_problem(100_000, 2, "127.0.0.1:8443", ports=28_000) == (
        "--source-addresses: 2 addresses give at most 56,000 connections to 127.0.0.1:8443; "
        "100,000 agents need 100,000: add addresses")
    assert source_addresses.per_agent_problem(30_000, None, "127.0.0.1:8443", ports=28_000) == (
        "one source address gives at most 28,000 connections to 127.0.0.1:8443; 30,000 agents "
        "with --connections per-agent need 30,000: add --source-addresses")
    # per-beat: 1,000 connections/s hold 60,000 ports in TIME_WAIT
    assert source_addresses.per_beat_problem(1000.0, 3, "127.0.0.1:80", ports=28_000) is None
    warning = source_addresses.per_beat_problem(1000.0, 2, "127.0.0.1:80", ports=28_000)
    assert warning is not None and warning.startswith(
        "--connections per-beat: about 60,000 connections to 127.0.0.1:80 stay in TIME_WAIT "
        "for 60s; 2 addresses give 56,000 ports")


# -- client identities over TLS ---------------------------------------------------------------
def test_each_agent_presents_its_identity_on_its_connection(target: RunningTarget,
                                                           tmp_path: Path) -> None:
    ca = TestCA.create()
    pki = tmp_path / "pki"
    ca_crt, ca_key = ca.write(pki)
    crt, key = ca.server().write(pki, "server")
    with proxy(tmp_path / "nginx", target, tls=(crt, key, ca_crt)) as px:
        run = run_http_fleet(px.url, tmp_path, "--agents", "5", "--duration", "4s",
                             "--ca-cert", str(ca_crt),
                             "--mint-identities", f"{ca_crt},{ca_key}", *FAST)
        log = px.log()
    assert run.code == 0, run.stderr[-3000:]
    assert "implied by the client identities" in run.stdout + run.stderr
    subjects = {e.connection: e.subject for e in log}
    assert len(subjects) == 5
    prefix = f"CN=fl-{run.run_id}-"
    assert all(s.startswith(prefix) for s in subjects.values()), subjects
    assert len(set(subjects.values())) == 5  # each subject on exactly one connection
    for e in log:  # and every request on a connection carries that connection's subject
        assert e.subject == subjects[e.connection]
    assert run.summary is not None
    assert run.summary["metrics"]["fleet_connections_opened"]["values"]["count"] == 5
    assert run.fleet["connections"]["opened"] == 5
    # one handshake per connection opened, each timed from connect to handshake done
    hs = run.fleet["connections"]["tls_handshake_ms"]
    assert hs["count"] == 5 and 0 < hs["p50"] <= hs["max"]
    assert "fleet_tls_handshake" in run.summary["metrics"]


def test_identities_with_shared_connections_is_an_error(target: RunningTarget,
                                                        tmp_path: Path) -> None:
    ca = TestCA.create()
    ca_crt, ca_key = ca.write(tmp_path / "pki")
    run = run_http_fleet(target.url, tmp_path, "--agents", "2", "--duration", "2s",
                         "--connections", "shared", "--mint-identities", f"{ca_crt},{ca_key}")
    assert run.code == 2
    assert ("client identities need each agent's own connection: --connections per-agent "
            "or per-beat, not shared") in run.stderr


def test_tls_handshake_failure_names_its_reason(target: RunningTarget, tmp_path: Path) -> None:
    """Agents that do not trust the server's certificate: the first agent's
    registration fails in the handshake and the fleet stops at its preflight."""
    ca, other = TestCA.create(), TestCA.create("another CA")
    pki = tmp_path / "pki"
    ca_crt, ca_key = ca.write(pki)
    other_crt, _ = other.write(pki, "other")
    crt, key = ca.server().write(pki, "server")
    with proxy(tmp_path / "nginx", target, tls=(crt, key, ca_crt)) as px:
        run = run_http_fleet(px.url, tmp_path, "--agents", "3", "--duration", "3s",
                             "--ca-cert", str(other_crt),
                             "--mint-identities", f"{ca_crt},{ca_key}", *FAST)
        log = px.log()
    assert run.code == 2, run.stderr[-3000:]
    assert "fleet preflight: registration failed: ConnectionError: tls_error (" in run.stderr
    assert ("tls_error (certificate verification failed: unable to get local issuer "
            "certificate)") in run.stderr
    assert log == []
    assert "Traceback" not in run.stderr


def test_connect_errors_are_counted_by_reason(target: RunningTarget, tmp_path: Path) -> None:
    """The server goes away mid-run: every later connect is refused, counted
    under its reason, and no connection stays open."""
    argv = [sys.executable, "-m", "fleetload", "run", "fleet", "--transport", "http",
            "--token", API_KEY, "--results-dir", str(tmp_path / "results"),
            "--summary-export", str(tmp_path / "summary.json"), "--stats-interval", "1s",
            "--allow-inconclusive", "--no-preflight", "--agents", "3", "--duration", "6s",
            "--connections", "per-beat", *FAST]
    with proxy(tmp_path / "nginx", target) as px:
        proc = subprocess.Popen([*argv, "--target", px.url], cwd=ROOT, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while sum(1 for e in px.log() if e.uri.endswith("/heartbeat")) < 6:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
    run = finish_fleet(proc, tmp_path)
    assert run.summary is not None, run.stderr[-3000:]
    conns = run.fleet["connections"]
    assert list(conns["connect_errors"]) == ["connection refused"]
    refused = conns["connect_errors"]["connection refused"]
    assert refused >= 3
    assert run.summary["metrics"]["fleet_connect_errors"]["values"]["count"] == refused
    failed = run.summary["metrics"]["http_req_failed"]["values"]["passes"]
    assert failed == refused  # each refused connect is one failed request, nothing else failed
    assert conns["open"] == 0
    assert re.search(r"conns: 0 open, \d+ opened, [1-9]\d* failed", run.stdout + run.stderr)
