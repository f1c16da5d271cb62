"""``fleetload run mqtt-fleet`` against a real Mosquitto 2.0 started per test:
the broker's own counters ($SYS) and a mosquitto_sub subscriber are the ground
truth for what the devices sent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import free_port as _free_port
from tests.support.mosquitto import MOSQUITTO_SUB, Broker, mosquitto, subscriber

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None

    @property
    def fleet(self) -> dict[str, Any]:
        assert self.summary is not None, self.stderr[-3000:]
        section: dict[str, Any] = self.summary["scenarios"]["devices"]["fleet"]
        return section

    @property
    def mqtt(self) -> dict[str, Any]:
        assert self.summary is not None, self.stderr[-3000:]
        section: dict[str, Any] = self.summary["scenarios"]["devices"]["mqtt"]
        return section


def start(broker: Broker, tmp: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    target = [] if "--broker" in args else ["--broker", broker.url]
    cmd = [sys.executable, "-m", "fleetload", "run", "mqtt-fleet", *target,
           "--results-dir", str(tmp / "results"), "--summary-export", str(tmp / "summary.json"),
           "--stats-interval", "1s", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], tmp: Path, timeout: float = 60) -> Run:
    out, err = proc.communicate(timeout=timeout)
    path = tmp / "summary.json"
    return Run(proc.returncode, out, err, json.loads(path.read_text()) if path.exists() else None)


def run(broker: Broker, tmp: Path, *args: str) -> Run:
    return finish(start(broker, tmp, *args), tmp)


def subdir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with mosquitto(subdir(tmp_path, "broker")) as b:
        yield b


def test_telemetry_published_equals_what_the_broker_received(broker: Broker, tmp_path: Path) -> None:
    with subscriber(broker, "fleetload/+/telemetry", tmp_path / "sub.txt") as lines:
        r = run(broker, tmp_path, "--agents", "40", "--duration", "3s", "--publish-interval",
                "0.5s", "--payload-bytes", "64", "--connect-concurrency", "8")
    assert r.code == 0, r.stderr[-3000:]
    m = r.mqtt
    sent = m["publishes"]["sent"]
    assert sent >= 40 * 4  # each device publishes about every 0.5 s for 3 s
    assert r.fleet["heartbeats"]["sent"] == sent
    assert m["connects"] == {"ok": 40, "resumed": 0, "refused": 0, "failed": 0,
                             "refused_by_reason": {}}
    assert m["connect_time"]["count"] == 40
    assert m["disconnects"]["total"] == 0
    assert broker.sys_settled("publish/messages/received") == sent
    # The subscriber saw every message, from 40 distinct devices named <prefix>-<run-id>-<n>.
    topics = Counter(line.split(" ", 1)[0] for line in lines.read_text().splitlines())
    run_id = r.summary["run"]["id"] if r.summary else ""
    assert sum(topics.values()) == sent
    assert set(topics) == {f"fleetload/fl-{run_id}-{i:05d}/telemetry" for i in range(40)}
    assert f"as fl-{run_id}-00039 (p2, c1, k60)" in broker.log


@pytest.mark.parametrize(("qos", "version"), [("1", "5"), ("2", "3.1.1")])
def test_acks_and_command_round_trips(broker: Broker, tmp_path: Path, qos: str,
                                      version: str) -> None:
    """QoS 1 publishes end at PUBACK, QoS 2 at PUBCOMP (after PUBREC / PUBREL)."""
    with subscriber(broker, "fleetload/+/telemetry", tmp_path / "sub.txt") as lines:
        r = run(broker, tmp_path, "--agents", "30", "--duration", "3s", "--publish-interval",
                "0.5s", "--qos", qos, "--mqtt-version", version, "--command-rate", "20",
                "--command-timeout", "1s")
    assert r.code == 0, r.stderr[-3000:]
    m = r.mqtt
    pub, cmd = m["publishes"], m["commands"]
    assert pub["sent"] >= 30 * 4
    assert pub["acked"] + pub["unacked_at_end"] == pub["sent"]
    assert pub["lost_unacked"] == 0
    assert m["publish_ack_latency"]["count"] == pub["acked"]
    assert cmd["sent"] >= 40
    assert cmd["answered"] >= cmd["sent"] - 5  # the last few may still be in flight at the end
    assert m["command_rtt"]["count"] == cmd["answered"]
    assert m["messages_received"] >= cmd["answered"]  # every answer was a received command
    assert r.fleet["pushes"]["command"] == m["messages_received"]
    # Every telemetry publish reached the subscriber; the broker received each
    # command and each reply (QoS 1) and, at QoS 1, each telemetry publish
    # (Mosquitto 2.0 leaves QoS 2 publishes out of this counter).
    assert len(lines.read_text().splitlines()) == pub["sent"]
    received = broker.sys_settled("publish/messages/received")
    telemetry = pub["sent"] if qos == "1" else 0
    assert received == telemetry + cmd["sent"] + m["messages_received"]
    assert "connected: 30 / 30 | connects: 30 ok" in r.stdout + r.stderr  # the live line
    assert f"mqtt commands {cmd['sent']:,} sent, {cmd['answered']:,} answered" in r.stdout


def test_broker_restart_devices_reconnect_with_backoff(broker: Broker, tmp_path: Path) -> None:
    proc = start(broker, tmp_path, "--agents", "30", "--duration", "9s", "--publish-interval",
                 "0.3s", "--qos", "1")
    peak: list[int] = []

    def restart() -> None:
        time.sleep(3.0)
        broker.restart(down=0.5)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            peak.append(broker.sys("clients/connected"))
            if peak[-1] >= 30:
                return
            time.sleep(0.5)

    t = threading.Thread(target=restart)
    t.start()
    r = finish(proc, tmp_path)
    t.join()
    assert r.code == 0, r.stderr[-3000:]
    m = r.mqtt
    assert max(peak) == 30  # every device came back to the new broker
    assert m["disconnects"]["total"] == 30
    assert sum(m["disconnects"]["by_reason"].values()) == 30
    assert r.fleet["reconnects"] == 30
    assert m["connects"]["ok"] == 60
    assert m["connects"]["resumed"] == 0  # clean sessions
    assert m["connected"] == 0  # all closed at the end
    pub = m["publishes"]
    assert pub["acked"] + pub["lost_unacked"] + pub["unacked_at_end"] == pub["sent"]
    assert r.fleet["heartbeats"]["failed"] == pub["lost_unacked"]


def test_refusals_counted_by_connack_reason(tmp_path: Path) -> None:
    with mosquitto(tmp_path, anonymous=False) as broker:
        r = run(broker, tmp_path, "--agents", "5", "--duration", "2s", "--skip-probe",
                "--username", "dev", "--password", "s3cret-pw")
        # No device got through: the run is inconclusive (exit 3), with the reason.
        assert r.code == 3, r.stderr[-3000:]
        assert "fleet ramp not completed: 5 of 5 agents" in r.stdout
        conn = r.mqtt["connects"]
        assert conn["ok"] == 0 and conn["refused"] >= 5
        assert conn["refused_by_reason"] == {"not authorized": conn["refused"]}
        assert r.mqtt["disconnects"]["total"] == 0 and r.mqtt["connected"] == 0
        # with the probe: one line, exit 2, and the password nowhere
        bad = run(broker, subdir(tmp_path, "probe"),
                  "--agents", "5", "--duration", "2s", "--username", "dev", "--password",
                  "s3cret-pw")
    assert bad.code == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        f"fleetload: error: mqtt-fleet: the broker at {broker.url} refused the connection: "
        "not authorized; check --username/--password")
    results = "".join(p.read_text(errors="replace") for p in (tmp_path / "results").rglob("*")
                      if p.is_file())
    assert "s3cret-pw" not in results + r.stdout + r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--broker", "http://127.0.0.1:1"], "--broker 'http://127.0.0.1:1': expected mqtt://HOST[:PORT]"),
    (["--qos", "3"], "--qos must be 0, 1 or 2, got 3"),
    (["--session", "sticky"], "--session must be clean or persistent, got 'sticky'"),
    (["--ca-file", "/nonexistent/ca.pem"], "--ca-file /nonexistent/ca.pem: no such file"),
])
def test_bad_input_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    base = [] if "--broker" in args else ["--broker", "mqtt://127.0.0.1:1"]
    out = subprocess.run([sys.executable, "-m", "fleetload", "run", "mqtt-fleet", *base, *args,
                          "--results-dir", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert message in out.stderr.strip().splitlines()[-1]


def test_persistent_sessions_resume_after_a_broker_restart(tmp_path: Path) -> None:
    """MQTT 5, clean start 0: the broker saves the sessions when it stops, the
    devices come back to them (CONNACK session present, no new SUBSCRIBE) and
    still answer commands."""
    with mosquitto(subdir(tmp_path, "broker"), persistence=True) as broker:
        proc = start(broker, tmp_path, "--agents", "20", "--duration", "8s", "--mqtt-version",
                     "5", "--session", "persistent", "--publish-interval", "0.5s",
                     "--command-rate", "10", "--command-timeout", "2s")
        time.sleep(3.0)
        broker.restart(down=0.3)
        r = finish(proc, tmp_path)
    assert r.code == 0, r.stderr[-3000:]
    m = r.mqtt
    assert m["connects"]["ok"] == 40
    assert m["connects"]["resumed"] == 20
    assert m["disconnects"]["total"] == 20
    assert m["commands"]["answered"] >= 20
    assert m["command_rtt"]["count"] == m["commands"]["answered"]


def test_keepalive_pings_keep_idle_devices_connected(broker: Broker, tmp_path: Path) -> None:
    """Keep-alive 2 s, telemetry every 60 s: the broker drops a client silent
    for 3 s, so only the devices' PINGREQs keep them connected for 6 s."""
    r = run(broker, tmp_path, "--agents", "10", "--duration", "6s", "--keepalive", "2",
            "--publish-interval", "60s")
    assert r.code == 0, r.stderr[-3000:]
    m = r.mqtt
    assert m["connects"]["ok"] == 10
    assert m["disconnects"]["total"] == 0
    assert "exceeded timeout" not in broker.log
    assert f"as fl-{r.summary['run']['id'] if r.summary else ''}-00009 (p2, c1, k2)" in broker.log


def test_mqtts_with_the_brokers_ca_and_without(tmp_path: Path) -> None:
    from tests.support.certs import make_ca_and_server

    ca, cert, key = make_ca_and_server(subdir(tmp_path, "pki"))
    tls_port = _free_port()
    extra = (f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    with mosquitto(subdir(tmp_path, "broker"), extra=extra) as broker:
        broker_url = f"mqtts://127.0.0.1:{tls_port}"
        ok = run(broker, subdir(tmp_path, "ok"), "--broker", broker_url, "--ca-file", str(ca),
                 "--agents", "10", "--duration", "2s", "--publish-interval", "0.5s", "--qos", "1")
        untrusted = run(broker, subdir(tmp_path, "untrusted"), "--broker", broker_url,
                        "--agents", "10", "--duration", "2s")
        received = broker.sys_settled("publish/messages/received")
    assert ok.code == 0, ok.stderr[-3000:]
    pub = ok.mqtt["publishes"]
    assert ok.mqtt["connects"]["ok"] == 10
    assert pub["sent"] >= 20 and pub["acked"] + pub["unacked_at_end"] == pub["sent"]
    assert received == pub["sent"]
    assert untrusted.code == 2
    last = untrusted.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fleetload: error: mqtt-fleet: cannot connect to the broker at "
                           f"{broker_url}: [SSL: CERTIFICATE_VERIFY_FAILED]"), last


def test_two_workers_split_devices_and_commands(broker: Broker, tmp_path: Path) -> None:
    """Two worker processes: disjoint devices, one command stream each, and the
    merged counts still equal what the broker received."""
    r = run(broker, tmp_path, "--workers", "2", "--agents", "20", "--duration", "3s",
            "--publish-interval", "0.5s", "--qos", "1", "--command-rate", "10",
            "--command-timeout", "1s")
    assert r.code == 0, r.stderr[-3000:]
    m = r.mqtt
    pub, cmd = m["publishes"], m["commands"]
    assert m["connects"]["ok"] == 20
    assert pub["acked"] + pub["unacked_at_end"] == pub["sent"] >= 20 * 4
    assert cmd["sent"] >= 20 and cmd["answered"] >= cmd["sent"] - 5
    received = broker.sys_settled("publish/messages/received")
    assert received == pub["sent"] + cmd["sent"] + m["messages_received"]
    run_id = r.summary["run"]["id"] if r.summary else ""
    for i in range(20):
        assert f"as fl-{run_id}-{i:05d} (p2, c1, k60)" in broker.log
    for lo in (0, 10):  # each worker's probe and command stream
        assert f"as fl-{run_id}-probe-{lo} " in broker.log
        assert f"as fl-{run_id}-commander-{lo} " in broker.log


def test_session_taken_over_counts_a_disconnect_and_reconnects(broker: Broker,
                                                               tmp_path: Path) -> None:
    """A second client with device 3's client id takes its session over:
    Mosquitto 2.0.11 closes the device's connection (it sends no DISCONNECT,
    not even to MQTT 5 clients), the device counts it by reason and reconnects
    with backoff."""
    proc = start(broker, tmp_path, "--agents", "5", "--duration", "5s", "--mqtt-version", "5",
                 "--publish-interval", "0.5s")
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "fleetload run <run-id>: ..."
    run_id = first.split()[2].rstrip(":")
    time.sleep(1.5)
    thief = subprocess.run([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port), "-V",
                            "mqttv5", "-i", f"fl-{run_id}-00003", "-t", "x", "-W", "1"],
                           capture_output=True, text=True, timeout=10, check=False)
    r = finish(proc, tmp_path)
    assert r.code == 0, first + r.stderr[-3000:]
    m = r.mqtt
    assert m["disconnects"]["by_reason"] == {"closed by the broker": 1}
    assert r.fleet["reconnects"] == 1
    assert m["connects"]["ok"] == 6
    assert thief.returncode in (0, 27)  # timed out waiting (27), or kicked out in turn


def test_devices_spread_over_several_broker_addresses(tmp_path: Path) -> None:
    """``--broker A,B``: device n connects to address n mod 2 (here two
    listeners of one Mosquitto, which is how one generator gets past the
    ephemeral port range of one loopback address and port)."""
    second = _free_port()
    with mosquitto(subdir(tmp_path, "broker"), extra=f"listener {second} 127.0.0.1\n") as broker:
        urls = f"{broker.url},mqtt://127.0.0.1:{second}"
        r = run(broker, tmp_path, "--broker", urls, "--agents", "10", "--duration", "2s",
                "--publish-interval", "0.5s")
        received = broker.sys_settled("publish/messages/received")
        log = broker.log
    assert r.code == 0, r.stderr[-3000:]
    assert r.mqtt["connects"]["ok"] == 10
    assert received == r.mqtt["publishes"]["sent"] > 0
    listener = dict(re.findall(r"New connection from (127\.0\.0\.1:\d+) on port (\d+)", log))
    client = {cid: listener[peer] for peer, cid in
              re.findall(r"New client connected from (127\.0\.0\.1:\d+) as (\S+)", log)}
    run_id = r.summary["run"]["id"] if r.summary else ""
    for i in range(10):
        assert client[f"fl-{run_id}-{i:05d}"] == str(broker.port if i % 2 == 0 else second)
