import pytest

from fleetload.engine.pacing import ConstantPacer, LinearPacer
from fleetload.engine.split import offset, share


def count(pacer, start=0, step=1):
    n, c = start, 0
    while pacer.time_of(n) is not None:
        c += 1
        n += step
    return c


def test_constant_pacer_schedule():
    p = ConstantPacer(100.0, 2.0)
    assert p.time_of(0) == 0.0
    assert p.time_of(1) == pytest.approx(0.01)
    assert count(p) == 200


def test_linear_pacer_counts_and_monotonic():
    p = LinearPacer(0.0, [(10.0, 100.0), (10.0, 100.0), (5.0, 0.0)])
    # 0->100 over 10s = 500, flat 100 for 10s = 1000, 100->0 over 5s = 250
    assert p.total() == pytest.approx(1750)
    times = []
    n = 0
    while (t := p.time_of(n)) is not None:
        times.append(t)
        n += 1
    assert len(times) == 1750
    assert times == sorted(times)
    # in the ramp, arrivals thicken: half the ramp's iterations fall in its last ~29%
    assert times[250] == pytest.approx(10 * (0.5 ** 0.5), rel=1e-3)
    assert p.rate_at(5.0) == pytest.approx(50.0)


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_interleaved_split_is_exact(workers):
    p = ConstantPacer(333.0, 3.0)
    assert sum(count(p, k, workers) for k in range(workers)) == count(p)


@pytest.mark.parametrize("total,workers", [(10, 3), (1, 4), (100, 7), (0, 2)])
def test_share_and_offset(total, workers):
    parts = [share(total, k, workers) for k in range(workers)]
    assert sum(parts) == total
    assert max(parts) - min(parts) <= 1
    assert [offset(total, k, workers) for k in range(workers)] == [sum(parts[:k]) for k in range(workers)]
