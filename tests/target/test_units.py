"""Small pure-function checks: ARI ids, cursors, token bucket, URL parsing, validators."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetplane.ari import ari_id, parse_ari_id, serial_bytes
from fleetplane.db.url import parse_db_url
from fleetplane.pagination import decode_cursor, encode_cursor, parse_sort
from fleetplane.ratelimit import TokenBucket
from fleetplane.timeutil import normalize
from fleetplane.validate import is_hostname


def test_ari_known_vector() -> None:
    # RFC 9773 section 4.1 example.
    aki = bytes.fromhex("69882B1A8E1E07A5B8E0D1A5D6BD4C8CD5A1C2B4")
    assert ari_id(aki, 0x0087654321).endswith(".AIdlQyE")
    assert serial_bytes(0x80) == b"\x00\x80" and serial_bytes(0x7F) == b"\x7f"


@given(st.binary(min_size=1, max_size=32), st.integers(min_value=1, max_value=2**160))
def test_ari_roundtrip(aki: bytes, serial: int) -> None:
    assert parse_ari_id(ari_id(aki, serial)) == (aki, serial)


@pytest.mark.parametrize("bad", ["", ".", "a", "a.b.c", "AA.gA", "AA.AA", "AA.AAE", "A+.AQ", "AA.AQ=="])
def test_ari_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_ari_id(bad)


def test_cursor_roundtrip_and_binding() -> None:
    s = parse_sort("-expires_at", ["expires_at", "name"], "name")
    assert (s.column, s.desc) == ("expires_at", True)
    tok = encode_cursor(s, "2030-01-01T00:00:00.000000Z", "mc-1")
    assert decode_cursor(tok, s) == ("2030-01-01T00:00:00.000000Z", "mc-1")
    with pytest.raises(ValueError):
        decode_cursor(tok, parse_sort("name", ["expires_at", "name"], "name"))
    with pytest.raises(ValueError):
        parse_sort("id; drop", ["name"], "name")


def test_token_bucket() -> None:
    b = TokenBucket(rate=1000, burst=3)
    assert [b.take() == 0 for _ in range(3)] == [True] * 3
    assert b.take() > 0


def test_db_urls() -> None:
    assert parse_db_url("sqlite:///tmp/x.db").path == "/tmp/x.db"
    assert parse_db_url("sqlite://:memory:").memory
    assert parse_db_url("postgresql://u@h/db").dialect == "postgres"
    with pytest.raises(ValueError):
        parse_db_url("mysql://x")


def test_timestamps_and_hostnames() -> None:
    assert normalize("2030-01-01T00:00:00.123456789+01:00") == "2029-12-31T23:00:00.123456Z"
    with pytest.raises(ValueError):
        normalize("2030-01-01")
    assert is_hostname("*.a-b.example.com") and not is_hostname("-a.com") and not is_hostname("a..b")
