import random

import numpy as np
from hdrh.histogram import HdrHistogram

from fleetload.metrics.histogram import Binned, Histogram, bucket_indices, new_hdr
from fleetload.metrics.snapshot import merge_binned


def test_bucket_indices_match_hdrhistogram():
    h = new_hdr()
    rng = random.Random(1)
    values = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 10**6, 3_600_000_000]
    values += [rng.randint(0, 3_600_000_000) for _ in range(5000)]
    values += [rng.randint(0, 50_000) for _ in range(5000)]
    ours = bucket_indices(np.array(values))
    assert list(ours) == [h._counts_index_for(v) for v in values]


def test_percentiles_equal_hdrhistogram_and_never_exceed_max():
    rng = random.Random(2)
    samples = [rng.expovariate(1 / 0.02) for _ in range(50_000)]
    ours = Histogram()
    ours.record_seconds(samples)
    ref = HdrHistogram(1, 3_600_000_000, 3)
    for s in samples:
        ref.record_value(round(s * 1e6))
    for p in (50, 90, 99, 99.9):
        assert ours.percentile(p) == min(ref.get_value_at_percentile(p), ours.max)
    assert ours.percentile(100) == ours.max
    assert ours.count == len(samples)
    assert abs(ours.mean() - np.mean(samples) * 1e6) < 1.0


def test_merge_of_parts_is_exactly_the_whole():
    rng = random.Random(3)
    samples = [rng.random() for _ in range(20_000)]
    whole = Binned.from_seconds(samples)
    parts = [Binned.from_seconds(samples[i::4]) for i in range(4)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merge_binned(merged, p)
    a, b = Histogram(), Histogram()
    a.add_binned(whole)
    b.add_binned(merged)
    assert (a.counts == b.counts).all()
    assert a.count == b.count and a.min == b.min and a.max == b.max
    assert abs(a.total - b.total) < 1e-3


def test_encode_decode_roundtrip_is_standard_v2():
    h = Histogram()
    h.record_seconds([0.001, 0.002, 0.5, 1.5])
    payload = h.encode()
    ref = HdrHistogram.decode(payload)  # the reference decoder accepts it
    assert ref.get_total_count() == 4
    back = Histogram.decode(payload)
    assert back.count == 4
    assert back.percentile(50) == h.percentile(50)


def _trend(snap, name):
    return next(b for (n, _), b in snap.trends.items() if n == name)


def test_binner_derives_every_http_trend_from_raw_timings():
    from fleetload.metrics.binning import HTTP_TRENDS, Binner
    from fleetload.metrics.collector import Batch, HttpSamples

    rng = random.Random(4)
    tags = (("scenario", "s"),)
    rows, intended, expect = [], [], {name: [] for name in HTTP_TRENDS}
    for i in range(3000):
        started = 100.0 + i * 1e-3
        blocked, connecting = (rng.random() * 1e-3, rng.random() * 2e-3) if i % 7 == 0 else (0, 0)
        send = started + blocked + connecting
        sent = send + rng.random() * 1e-4
        first = sent + rng.expovariate(1 / 5e-3)
        last = first + rng.random() * 1e-3
        origin = started - rng.random() * 2e-3
        rows.append((started, send, sent, first, last, blocked, connecting, 0.0, 60, 150))
        intended.append(origin)
        for name, v in (("http_req_duration", last - send), ("http_req_latency", last - origin),
                        ("http_req_blocked", blocked), ("http_req_connecting", connecting),
                        ("http_req_tls_handshaking", 0.0), ("http_req_sending", sent - send),
                        ("http_req_waiting", first - sent), ("http_req_receiving", last - first)):
            expect[name].append(v)
    b = Binner()
    # in two batches: the first has phases, the second (only reused connections) has none
    plain = [i for i in range(3000) if i % 7]
    timed = [i for i in range(3000) if not i % 7]
    for part in (timed, plain):
        b.add(Batch(http=[HttpSamples(tags, False, [rows[i] for i in part],
                                      [intended[i] for i in part])]))
    snap = b.snapshot(0, 0.0, 1.0)
    for name in HTTP_TRENDS:
        ref = Histogram()
        ref.record_seconds(expect[name])
        got = Histogram()
        got.add_binned(_trend(snap, name))
        assert (got.counts == ref.counts).all(), name
        assert got.count == 3000 and got.min == ref.min and got.max == ref.max
    assert snap.counters[("http_reqs", tags)] == 3000
    assert snap.counters[("data_sent", tags)] == 60 * 3000
    assert snap.counters[("data_received", tags)] == 150 * 3000
    assert snap.rates[("http_req_failed", tags)] == (3000, 3000)  # expected=False
