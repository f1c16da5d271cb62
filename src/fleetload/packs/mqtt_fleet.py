"""mqtt-fleet: simulate a fleet of MQTT devices against a broker.

    fleetload run mqtt-fleet --broker mqtt://127.0.0.1:1883 --agents 10000 \
        --ramp 60s --publish-interval 60s --qos 1 --command-rate 5 --duration 10m

Each device connects with client id <prefix>-<run-id>-<n>, subscribes to its
command topic, publishes telemetry every --publish-interval ± --jitter and
answers commands; the command stream publishes --command-rate commands/s to
random devices and times the replies. Dropped devices reconnect with backoff.
"""

from __future__ import annotations

from typing import Any

from fleetload import Duration, param, scenario
from fleetload.fleet import metrics as fleet_metrics
from fleetload.fleet.identity_sources import source_from_params
from fleetload.fleet.mqtt_agent import MqttFleet, declare_metrics

fleet_metrics.declare()
declare_metrics()

BROKER = param("broker", str, required=True,
               help="mqtt://HOST[:PORT] or mqtts://HOST[:PORT]; several, comma-separated: "
                    "device n uses address n mod their number")
AGENTS = param("agents", int, default=1000, help="devices")
DURATION = param("duration", Duration, default="0s", help="run length (0 = until Ctrl-C)")
RAMP = param("ramp", Duration, default="0s", help="start devices over this time")
CONNECT_CONCURRENCY = param("connect_concurrency", int, default=32,
                            help="first connects in flight at most (the connect storm)")
INTERVAL = param("publish_interval", Duration, default="60s", help="telemetry cadence")
JITTER = param("jitter", float, default=0.1, help="cadence jitter (fraction)")
PAYLOAD = param("payload_bytes", int, default=200, help="telemetry payload size")
QOS = param("qos", int, default=0, help="telemetry QoS: 0, 1 or 2")
MQTT_VERSION = param("mqtt_version", str, default="3.1.1", help="3.1.1 or 5")
KEEPALIVE = param("keepalive", int, default=60, help="keep-alive, seconds (0: off)")
SESSION = param("session", str, default="clean", help="clean or persistent")
SESSION_EXPIRY = param("session_expiry", int, default=3600,
                       help="MQTT 5 persistent session expiry, seconds")
USERNAME = param("username", str, default=None, help="broker username")
PASSWORD = param("password", str, default=None, help="broker password")
TLS_INSECURE = param("tls_insecure", bool, default=False,
                     help="mqtts: do not verify the broker's certificate")
CA_FILE = param("ca_file", str, default=None,
                help="mqtts: PEM file of the CA(s) to trust instead of the system's")
IDENTITIES = param("identities", str, default=None,
                   help="mqtts: directory of per-device client certificates: <name>.crt + "
                        "<name>.key or <name>.pem + <name>-key.pem, device i presents the i-th")
MINT_IDENTITIES = param("mint_identities", str, default=None,
                        help="mqtts: CA_CERT,CA_KEY: mint each device a client certificate for "
                             "its client id, signed by this CA")
TOPIC_PREFIX = param("topic_prefix", str, default="fleetload",
                     help="topics <prefix>/<client-id>/{telemetry,cmd,reply}")
COMMAND_RATE = param("command_rate", float, default=0.0, help="commands/s to random devices")
COMMAND_QOS = param("command_qos", int, default=1, help="QoS of commands and replies")
COMMAND_TIMEOUT = param("command_timeout", Duration, default="10s",
                        help="a command without a reply after this is counted as timed out")
CONNECT_TIMEOUT = param("connect_timeout", Duration, default="10s", help="TCP connect to CONNACK")
PREFIX = param("hostname_prefix", str, default="fl", help="client ids <prefix>-<run-id>-<nnnnn>")
SKIP_PROBE = param("skip_probe", bool, default=False,
                     help="start the devices even when a probe connection fails")
ACK_P99 = param("ack_p99", float, default=1000.0, help="threshold: publish ack latency p99, ms")

# A threshold without samples fails: set them only for runs long enough that
# every device publishes (a short run at a 60 s cadence may publish nothing).
thresholds: dict[str, list[str]] = {}
if not DURATION or DURATION >= 2 * INTERVAL:
    thresholds["fleet_tick_lateness"] = ["p(99)<1000"]
    if QOS:
        thresholds["mqtt_publish_ack_latency"] = [f"p(99)<{ACK_P99:g}"]


@scenario(MqttFleet(
    agents=AGENTS, duration=DURATION, ramp=RAMP, registration_concurrency=CONNECT_CONCURRENCY,
    heartbeat_interval=INTERVAL, jitter=JITTER, hostname_prefix=PREFIX, graceful_stop="5s",
    preflight=not SKIP_PROBE,
    identities=source_from_params(IDENTITIES, MINT_IDENTITIES, agents=AGENTS),
    options_extra={
        "broker": BROKER, "mqtt_version": MQTT_VERSION, "keepalive": KEEPALIVE,
        "session": SESSION, "session_expiry": SESSION_EXPIRY, "username": USERNAME,
        "password": PASSWORD, "tls_insecure": TLS_INSECURE, "ca_file": CA_FILE, "qos": QOS,
        "payload_bytes": PAYLOAD, "topic_prefix": TOPIC_PREFIX, "command_rate": COMMAND_RATE,
        "command_qos": COMMAND_QOS, "command_timeout": COMMAND_TIMEOUT,
        "connect_timeout": CONNECT_TIMEOUT}))
async def devices(vu: Any) -> None:
    """Not called: the devices' behaviour lives in MqttAgent."""
