"""The MQTT wire format (3.1.1 and 5), sans-IO: packets to bytes and bytes to
packets, no socket anywhere.

Only what a device and a command sender need: CONNECT/CONNACK, PUBLISH and its
acknowledgements (PUBACK, PUBREC/PUBREL/PUBCOMP), SUBSCRIBE/SUBACK,
PINGREQ/PINGRESP and DISCONNECT. MQTT 5 properties are written empty (except a
CONNECT's session expiry interval) and skipped when read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = range(8, 16)

PINGREQ_BYTES = b"\xc0\x00"
DISCONNECT_BYTES = b"\xe0\x00"
MAX_REMAINING = 268_435_455

_U16 = struct.Struct(">H")
_PROP_SESSION_EXPIRY = 0x11

V3_CONNACK = {1: "unacceptable protocol version", 2: "identifier rejected",
              3: "server unavailable", 4: "bad username or password", 5: "not authorized"}
V5_REASONS = {
    0x04: "disconnect with will message", 0x80: "unspecified error", 0x81: "malformed packet",
    0x82: "protocol error", 0x83: "implementation specific error",
    0x84: "unsupported protocol version", 0x85: "client identifier not valid",
    0x86: "bad username or password", 0x87: "not authorized", 0x88: "server unavailable",
    0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
    0x8C: "bad authentication method", 0x8D: "keep alive timeout", 0x8E: "session taken over",
    0x90: "topic name invalid", 0x93: "receive maximum exceeded", 0x94: "topic alias invalid",
    0x95: "packet too large", 0x96: "message rate too high", 0x97: "quota exceeded",
    0x98: "administrative action", 0x99: "payload format invalid",
    0x9A: "retain not supported", 0x9B: "qos not supported", 0x9C: "use another server",
    0x9D: "server moved", 0x9F: "connection rate exceeded", 0xA0: "maximum connect time",
}


class MalformedPacket(Exception):
    """The peer sent bytes that are not an MQTT packet."""


def reason_text(code: int, version: int) -> str:
    """A CONNACK return code (3.1.1) or reason code (5) in words."""
    table = V3_CONNACK if version < 5 else V5_REASONS
    return table.get(code, f"code {code:#04x}")


def _varint(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"MQTT length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return _U16.pack(len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _varint(len(body)) + body


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """What a CONNECT carries."""

    client_id: str
    version: int = 4  # 4: MQTT 3.1.1, 5: MQTT 5
    keepalive: int = 60
    clean: bool = True
    session_expiry: int = 0  # MQTT 5, seconds a persistent session outlives the connection
    username: str | None = None
    password: str | None = None


def connect(o: ConnectOptions) -> bytes:
    flags = 0x02 if o.clean else 0
    if o.username is not None:
        flags |= 0x80
    if o.password is not None:
        flags |= 0x40
    head = _str("MQTT") + bytes((o.version, flags)) + _U16.pack(o.keepalive)
    if o.version >= 5:
        props = (bytes((_PROP_SESSION_EXPIRY,)) + struct.pack(">I", o.session_expiry)
                 if o.session_expiry else b"")
        head += _varint(len(props)) + props
    body = head + _str(o.client_id)
    if o.username is not None:
        body += _str(o.username)
    if o.password is not None:
        body += _str(o.password)
    return _packet(CONNECT << 4, body)


def publish(topic: bytes, payload: bytes, qos: int, packet_id: int, version: int,
            *, retain: bool = False) -> bytes:
    body = _str(topic)
    if qos:
        body += _U16.pack(packet_id)
    if version >= 5:
        body += b"\x00"
    return _packet((PUBLISH << 4) | (qos << 1) | int(retain), body + payload)


def ack(ptype: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC, PUBREL or PUBCOMP (reason "success", valid in 3.1.1 and 5)."""
    return _packet((ptype << 4) | (0x02 if ptype == PUBREL else 0), _U16.pack(packet_id))


def subscribe(packet_id: int, topics: list[tuple[str, int]], version: int) -> bytes:
    body = _U16.pack(packet_id) + (b"\x00" if version >= 5 else b"")
    for topic, qos in topics:
        body += _str(topic) + bytes((qos,))
    return _packet((SUBSCRIBE << 4) | 0x02, body)


# -- reading ----------------------------------------------------------------------------------
class Reader:
    """Incremental decoder: ``feed`` bytes as they arrive, get whole packets
    ``(type, flags, body)`` back."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        buf = self._buf + data if self._buf else data
        pos, end = 0, len(buf)
        try:
            while end - pos >= 2:
                first = buf[pos]
                length, shift, i = 0, 0, pos + 1
                while True:
                    if i >= end:
                        return
                    byte = buf[i]
                    length |= (byte & 0x7F) << shift
                    i += 1
                    if not byte & 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise MalformedPacket("remaining length longer than 4 bytes")
                if end - i < length:
                    return
                pos = i + length
                yield first >> 4, first & 0x0F, buf[i:pos]
        finally:
            self._buf = buf[pos:]


def _skip_props(body: bytes, i: int) -> int:
    length, shift = 0, 0
    while True:
        if i >= len(body):
            raise MalformedPacket("truncated properties")
        byte = body[i]
        i += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return i + length
        shift += 7


def parse_connack(body: bytes) -> tuple[bool, int]:
    """(session present, return/reason code)."""
    if len(body) < 2:
        raise MalformedPacket("CONNACK shorter than 2 bytes")
    return bool(body[0] & 1), body[1]


def parse_publish(flags: int, body: bytes, version: int) -> tuple[bytes, int, int, bytes]:
    """(topic, qos, packet id or 0, payload)."""
    if len(body) < 2:
        raise MalformedPacket("PUBLISH without a topic")
    n = _U16.unpack_from(body)[0]
    topic = body[2:2 + n]
    i = 2 + n
    qos = (flags >> 1) & 3
    pid = 0
    if qos:
        pid = _U16.unpack_from(body, i)[0]
        i += 2
    if version >= 5:
        i = _skip_props(body, i)
    return topic, qos, pid, body[i:]


def parse_ack(body: bytes) -> tuple[int, int]:
    """(packet id, reason code) of PUBACK/PUBREC/PUBREL/PUBCOMP/SUBACK/UNSUBACK.
    For SUBACK the code is the first granted QoS or failure code."""
    if len(body) < 2:
        raise MalformedPacket("acknowledgement without a packet id")
    return _U16.unpack_from(body)[0], body[2] if len(body) > 2 else 0


def parse_suback(body: bytes, version: int) -> tuple[int, list[int]]:
    pid = _U16.unpack_from(body)[0]
    i = _skip_props(body, 2) if version >= 5 else 2
    return pid, list(body[i:])


def parse_disconnect(body: bytes) -> int:
    """The reason code of a server's DISCONNECT (MQTT 5; 0 when absent)."""
    return body[0] if body else 0
