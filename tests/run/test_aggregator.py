"""The run aggregator: intervals from several workers, arriving out of order
or not at all, become one merged interval each, in order, exactly once."""

from __future__ import annotations

from fleetload.engine.aggregator import RunAggregator
from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.snapshot import IntervalSnapshot

KEY = ("http_reqs", (("scenario", "s"),))


def snap(index: int, reqs: float, *, final: bool = False) -> IntervalSnapshot:
    s = IntervalSnapshot(index, float(index), float(index + 1), counters={KEY: reqs})
    if final:
        s.notes["final"] = 1.0
    return s


def collect(agg: RunAggregator) -> list[tuple[int, float, int]]:
    seen: list[tuple[int, float, int]] = []
    agg.observers.append(lambda s, a: seen.append((s.index, s.counters[KEY], s.workers)))
    return seen


def test_out_of_order_intervals_merge_in_order() -> None:
    agg = RunAggregator(2, Aggregate())
    seen = collect(agg)
    agg.add(1, snap(1, 10))  # worker 1 runs ahead
    agg.add(1, snap(0, 5))
    assert seen == []  # worker 0 has not reported interval 0
    agg.add(0, snap(0, 7))
    assert seen == [(0, 12.0, 2)]
    agg.add(0, snap(1, 3))
    assert seen == [(0, 12.0, 2), (1, 13.0, 2)]
    assert agg.aggregate.counters[KEY] == 25.0


def test_a_worker_that_dies_does_not_stall_the_run() -> None:
    agg = RunAggregator(2, Aggregate())
    seen = collect(agg)
    agg.add(0, snap(0, 1))
    agg.add(0, snap(1, 1))
    agg.add(0, snap(2, 1, final=True))
    assert seen == []  # worker 1 is silent
    agg.worker_exited(1)  # ... and gone without a final snapshot
    assert [i for i, _, _ in seen] == [0, 1, 2]
    assert agg.all_done


def test_a_missing_interval_is_skipped_at_the_end() -> None:
    agg = RunAggregator(1, Aggregate())
    seen = collect(agg)
    agg.add(0, snap(0, 1))
    agg.add(0, snap(2, 4))  # interval 1 has not come (yet)
    assert [i for i, _, _ in seen] == [0]  # it may still come: 2 waits
    agg.finish()  # the run is over: what is there is merged, in order
    assert [i for i, _, _ in seen] == [0, 2]
    assert agg.aggregate.counters[KEY] == 5.0


def test_errors_and_samples_are_summed_over_workers() -> None:
    agg = RunAggregator(2, Aggregate())
    a, b = snap(0, 1, final=True), snap(0, 1, final=True)
    a.errors = {("s", "ValueError: x"): 2}
    b.errors = {("s", "ValueError: x"): 3, ("s", "KeyError: 'y'"): 1}
    agg.add(0, a)
    agg.add(1, b)
    assert agg.errors == {("s", "ValueError: x"): 5, ("s", "KeyError: 'y'"): 1}
