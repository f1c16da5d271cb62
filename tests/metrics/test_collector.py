"""The worker's recording buffers: what is pending until the loop hands it over."""

from __future__ import annotations

from types import SimpleNamespace

from fleetload.metrics.collector import Collector
from fleetload.metrics.kinds import make_tags


def test_pending_counts_responses_and_iterations_until_taken() -> None:
    c = Collector()
    ok = c.http_recorder("ok", make_tags({"status": "200"}))
    failed = c.http_recorder("failed", make_tags({"status": "500"}), expected=False)
    iters = c.iteration_recorder(make_tags({"scenario": "s"}))
    resp = SimpleNamespace(_t=(0.0,) * 8 + (10, 20))
    for _ in range(3):
        ok.record(resp, 0.0)
    failed.record(resp, 0.0)
    iters.duration.extend([0.1, 0.2])
    iters.lag.append(0.001)  # a lag belongs to an iteration already counted
    c.add_counter(("custom", make_tags({})), 5.0)  # not a sample to bin
    assert c.pending() == 6
    batch = c.take()
    assert c.pending() == 0
    assert sorted(len(h.times) for h in batch.http) == [1, 3]
    assert [len(it.duration) for it in batch.iterations] == [2]
    ok.record(resp, 0.0)
    assert c.pending() == 1
