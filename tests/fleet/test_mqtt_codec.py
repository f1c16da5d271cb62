"""The MQTT wire codec, driven with bytes (no socket), checked against the
byte layouts of the MQTT 3.1.1 and 5 specifications."""

from __future__ import annotations

import pytest

from fleetload.errors import ConfigError
from fleetload.protocols.mqtt import codec as c
from fleetload.protocols.mqtt.settings import parse_broker, settings_from


def test_connect_3_1_1_bytes() -> None:
    data = c.connect(c.ConnectOptions("dev-1", version=4, keepalive=60, username="u",
                                      password="p"))
    assert data == (b"\x10\x17\x00\x04MQTT\x04\xc2\x00\x3c" + b"\x00\x05dev-1"
                    + b"\x00\x01u" + b"\x00\x01p")


def test_connect_5_persistent_carries_session_expiry() -> None:
    data = c.connect(c.ConnectOptions("d", version=5, keepalive=30, clean=False,
                                      session_expiry=3600))
    # flags 0 (no clean start), keep-alive 30, properties: length 5, 0x11 + u32 3600
    assert data == b"\x10\x13\x00\x04MQTT\x05\x00\x00\x1e\x05\x11\x00\x00\x0e\x10\x00\x01d"


def test_publish_qos1_and_its_round_trip_through_the_reader() -> None:
    for version in (4, 5):
        data = c.publish(b"t/1", b"x" * 300, 1, 7, version)
        (ptype, flags, body), = list(c.Reader().feed(data))
        assert (ptype, flags) == (c.PUBLISH, 0x02)
        assert c.parse_publish(flags, body, version) == (b"t/1", 1, 7, b"x" * 300)
    assert c.publish(b"t", b"", 0, 0, 4) == b"\x30\x03\x00\x01t"


def test_reader_reassembles_packets_split_anywhere() -> None:
    stream = (c.publish(b"a", b"1" * 200, 0, 0, 4) + c.ack(c.PUBACK, 9) + c.PINGREQ_BYTES
              + c.ack(c.PUBREL, 65535))
    for step in (1, 2, 3, 7, 64):
        reader = c.Reader()
        got = []
        for i in range(0, len(stream), step):
            got += list(reader.feed(stream[i:i + step]))
        assert [(t, f) for t, f, _ in got] == [(c.PUBLISH, 0), (c.PUBACK, 0), (c.PINGREQ, 0),
                                               (c.PUBREL, 2)]
        assert c.parse_ack(got[1][2]) == (9, 0)
        assert c.parse_ack(got[3][2]) == (65535, 0)


def test_remaining_length_varint_boundaries() -> None:
    for n, encoded in ((0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16383, b"\xff\x7f"),
                       (16384, b"\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f")):
        assert c._varint(n) == encoded
    with pytest.raises(c.MalformedPacket, match="longer than 4 bytes"):
        list(c.Reader().feed(b"\x30\xff\xff\xff\xff\x01"))


def test_connack_suback_and_reason_texts() -> None:
    assert c.parse_connack(b"\x01\x00") == (True, 0)
    assert c.reason_text(5, 4) == "not authorized"
    assert c.reason_text(0x86, 5) == "bad username or password"
    assert c.parse_suback(b"\x00\x02\x00\x01", 5) == (2, [1])
    assert c.parse_suback(b"\x00\x02\x80", 4) == (2, [0x80])
    assert c.subscribe(3, [("a/+", 1)], 4) == b"\x82\x08\x00\x03\x00\x03a/+\x01"


def test_broker_urls_and_settings() -> None:
    assert parse_broker("mqtt://h") == (False, "h", 1883)
    assert parse_broker("mqtts://h:9000") == (True, "h", 9000)
    with pytest.raises(ConfigError, match=r"expected mqtt://HOST\[:PORT\]"):
        parse_broker("http://h")
    with pytest.raises(ConfigError, match="--qos must be 0, 1 or 2, got 3"):
        settings_from({"broker": "mqtt://h", "qos": 3})
    with pytest.raises(ConfigError, match="--password needs --username"):
        settings_from({"broker": "mqtt://h", "password": "x"})
    s = settings_from({"broker": "mqtt://h", "session": "persistent", "mqtt_version": "5"})
    assert s.connect_options("c") == c.ConnectOptions("c", version=5, clean=False,
                                                      session_expiry=3600)
