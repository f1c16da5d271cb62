"""Fast checks of the pieces: split, backoff, identities, cadence jitter."""

from __future__ import annotations

import random

import pytest

from fleetload.errors import ConfigError
from fleetload.fleet import Fleet, HttpAgent, identity
from fleetload.fleet.backoff import backoff_delay
from fleetload.fleet.metrics import format_status


@pytest.mark.parametrize(("agents", "workers"), [(100, 1), (100, 3), (7, 4), (100_000, 7)])
def test_split_is_exact_and_disjoint(agents: int, workers: int) -> None:
    ex = Fleet(agent=HttpAgent, agents=agents, registration_concurrency=32)
    parts = [ex.split(i, workers) for i in range(workers)]
    ranges = [p.agent_range for p in parts if p is not None]
    covered = [i for lo_hi in ranges if lo_hi for i in range(*lo_hi)]
    assert covered == list(range(agents))
    caps = [p.registration_concurrency for p in parts if p is not None]
    assert sum(caps) == 32 or all(c == 1 for c in caps)


def test_backoff_grows_to_cap_with_jitter() -> None:
    rng = random.Random(1)
    first = [backoff_delay(0, rng) for _ in range(200)]
    assert min(first) >= 0.8 and max(first) <= 1.2 and len(set(first)) > 100
    assert all(backoff_delay(n, rng) <= 60.0 for n in range(50))
    assert min(backoff_delay(20, rng) for _ in range(100)) >= 48.0


def test_identity_and_hostname() -> None:
    priv, pub = identity.new_keypair()
    assert len(priv) == 32 and len(pub) == 32
    sig = identity.sign(priv, b"hello")
    assert identity.verify(pub, sig, b"hello") and not identity.verify(pub, sig, b"other")
    assert identity.hostname("lt", "20250101-000000-ab12", 42) == "lt-20250101-000000-ab12-00042"
    assert identity.hostname_filter("lt", "RID") == "lt-RID-*"


def test_options_validated_and_token_masked() -> None:
    with pytest.raises(ConfigError):
        Fleet(agent=HttpAgent, agents=0)
    with pytest.raises(ConfigError):
        Fleet(agent=HttpAgent, jitter=1.5)
    with pytest.raises(ConfigError):
        Fleet(agent=HttpAgent, hostname_prefix="Bad_Prefix")
    opts = Fleet(agent=HttpAgent, token="secret").options()
    assert opts["token"] is True and "secret" not in repr(opts)
    assert opts["agent"].endswith("HttpAgent")


def test_live_line_format() -> None:
    line = format_status({"regs_active": 1000, "regs_pending": 0, "regs_failed": 0,
                          "streams_open": 1000, "hb_sent": 1024, "hb_failed": 0,
                          "max_rtt_p95_ms": 18.2, "errors": 0}, "grpc")
    assert line == ("regs: 1,000 active / 0 pend / 0 fail | streams: 1,000 | "
                    "hb: 1,024 sent (0 failed) | rtt p95: 18ms | errors: 0")


def test_lateness_summary_line() -> None:
    from fleetload.fleet.metrics import summary_lines

    base = {"transport": "http", "agents": 10, "registrations": {"active": 10, "pending": 0, "failed": 0},
            "heartbeats": {"sent": 5, "failed": 0}, "heartbeat_rtt": None, "streams_open": None,
            "pushes": {}, "errors": [], "reconnects": 0}
    done = dict(base, tick_lateness_steady={"p50": 0.25, "p99": 2.0, "max": 9.0, "count": 1200},
                tick_lateness_ramp={"p99": 30.0, "max": 80.0, "count": 300}, ramp_done_s=12.3,
                ramp_pending=0)
    assert ("tick lateness steady p50=0.2ms p99=2.0ms max=9.0ms (1,200 ticks); "
            "ramp p99=30.0ms max=80.0ms (ramp done at 12s)") in summary_lines(done)
    pending = dict(base, tick_lateness_steady=None, tick_lateness_ramp=None, ramp_done_s=None,
                   ramp_pending=7)
    assert ("tick lateness steady none (0 ticks); ramp none (ramp not completed: 7 agents pending)"
            in summary_lines(pending))
