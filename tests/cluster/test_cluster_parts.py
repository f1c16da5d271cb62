"""The pieces of a cluster run that need no cluster: the wire format, the
clock-offset estimate, a lost node's unsent share, the flags, and a ceiling
search that loses a node."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fleetload.capacity.ceiling import NODE_LOST, SearchResult, SearchSettings, search
from fleetload.cluster import wire
from fleetload.cluster.barrier import MIN_LEAD, estimate_offset, in_node_clock, start_instant
from fleetload.cluster.loss import unsent_iterations
from fleetload.cluster.options import from_flags
from fleetload.errors import ConfigError
from fleetload.metrics.failure_samples import ReasonSamples
from fleetload.metrics.histogram import Binned
from fleetload.metrics.snapshot import IntervalSnapshot
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe
from tests.conftest import run_cli

SCRIPT = Path(__file__).parent / "scripts" / "spread.py"


def test_the_wire_format_gives_back_every_bucket_and_is_smaller() -> None:
    rng = np.random.default_rng(7)
    trends = {(f"m{i}", (("scenario", "s"),)):
              Binned.from_seconds(rng.lognormal(np.log(0.002), 0.8, 3000)) for i in range(8)}
    wide = Binned(np.array([5, 9, 23000]), np.array([1, 2**40, 3], dtype=np.uint64),
                  2**40 + 4, 1e9, 5.0, 9e9)
    trends[("wide", ())] = wide
    snap = IntervalSnapshot(4, 4.0, 5.0, trends=trends, counters={("http_reqs", ()): 3000.0},
                            rates={("checks", ()): (2990, 3000)}, gauges={("vus", ()): 7.0},
                            workers=3, notes={"max_cpu": 0.5}, errors={("s", "boom"): 2},
                            samples={("s", "500"): ReasonSamples(["no"], None, 1)})
    data = wire.encode(snap)
    back = wire.decode(data)
    assert len(data) * 5 < wire.plain_size(snap)
    assert (back.index, back.start, back.end, back.workers) == (4, 4.0, 5.0, 3)
    assert back.counters == snap.counters and back.rates == snap.rates
    assert back.gauges == snap.gauges and back.notes == snap.notes
    assert back.errors == snap.errors and back.samples == snap.samples
    assert back.trends.keys() == trends.keys()
    for key, b in trends.items():
        got = back.trends[key]
        assert np.array_equal(got.index, b.index) and np.array_equal(got.counts, b.counts)
        assert (got.count, got.total, got.min, got.max) == (b.count, b.total, b.min, b.max)
    assert int(back.trends[("wide", ())].counts[1]) == 2**40


def test_the_offset_comes_from_the_fastest_round_trip() -> None:
    # The driver's clock advances by each ping's delays; the node's runs 12.5 s ahead.
    delays = itertools.cycle([(0.004, 0.001), (0.0002, 0.0003), (0.002, 0.009)])
    now = [100.0]

    def clock() -> float:
        return now[0]

    def ping() -> float:
        out, back = next(delays)
        now[0] += out
        reading = now[0] + 12.5
        now[0] += back
        return reading

    est = estimate_offset(ping, pings=9, clock=clock)
    assert est.rtt_min == pytest.approx(0.0005)
    assert est.uncertainty == pytest.approx(0.00025)
    assert abs(est.offset - 12.5) <= est.uncertainty + 1e-12
    start = start_instant(200.0, [est])
    assert start >= 200.0 + MIN_LEAD
    assert in_node_clock(start, est) == pytest.approx(start + est.offset)


def test_a_lost_nodes_unsent_share_is_its_workers_iterations_still_due() -> None:
    plan = PlanRecipe(Overrides(env={"TARGET": "http://127.0.0.1:9", "RATE": "30",
                                     "DUR": "2s"}), script=str(SCRIPT)).build()
    # 60 iterations, due at n/30 s; from 1.0 s on, n = 30..59.
    assert unsent_iterations(plan, 0, 3, 3, 1.0) == {"spread": 30}
    assert unsent_iterations(plan, 1, 1, 3, 1.0) == {"spread": 10}  # n % 3 == 1
    assert unsent_iterations(plan, 2, 2, 6, 1.0) == {"spread": 10}  # n % 6 in {2, 3}
    assert unsent_iterations(plan, 0, 1, 3, 0.0) == {"spread": 20}
    assert unsent_iterations(plan, 0, 1, 3, 5.0) == {"spread": 0}


def test_cluster_flags() -> None:
    assert from_flags(None, None, None, None) is None
    opts = from_flags("ray://head:10001", 4, "2s", "continue")
    assert opts is not None
    assert (opts.address, opts.nodes, opts.lease, opts.on_node_loss) == (
        "ray://head:10001", 4, 2.0, "continue")
    with pytest.raises(ConfigError, match=r"^--lease applies to cluster runs only: add --cluster"):
        from_flags(None, None, "2s", None)
    with pytest.raises(ConfigError, match=r"^--nodes must be at least 1, got 0$"):
        from_flags("auto", 0, None, None)
    with pytest.raises(ConfigError, match=r"^--lease must be longer than 0s, got 0s$"):
        from_flags("auto", None, "0s", None)


@dataclass
class LostOrNot:
    rate: float
    verdict: str
    reasons: list[str]


def _search_losing_a_node_at(lose_at: float, capacity: float) -> SearchResult:
    async def run(rate: float) -> LostOrNot:
        if rate == lose_at:
            return LostOrNot(rate, "node-lost", ["node 2 (10.0.0.7) lost: ActorDiedError"])
        return LostOrNot(rate, "ok" if rate <= capacity else "breaks", [])

    return asyncio.run(search(SearchSettings(10, 1000, factor=2, precision=0.05), run))


def test_a_node_lost_while_stepping_up_ends_the_search_on_a_lower_bound() -> None:
    result = _search_losing_a_node_at(40, capacity=100)
    assert [s.rate for s in result.steps] == [10, 20, 40]
    assert result.status == NODE_LOST and result.node_lost is result.steps[-1]
    assert result.good is not None and result.good.rate == 20 and result.bad is None
    assert result.stop_reason == ("node 2 (10.0.0.7) lost: ActorDiedError during the step at "
                                  "40/s: the ceiling stands on the steps measured before it")


def test_a_node_lost_while_bisecting_keeps_the_bracket_measured() -> None:
    result = _search_losing_a_node_at(60, capacity=50)  # 10..80, then 60 halfway
    assert [s.rate for s in result.steps] == [10, 20, 40, 80, 60]
    assert result.status == NODE_LOST
    assert result.good is not None and result.bad is not None
    assert (result.good.rate, result.bad.rate) == (40, 80)


def test_ceiling_cluster_flags_are_checked_before_anything_runs() -> None:
    r = run_cli("ceiling", str(SCRIPT), "--slo", "p(99)<100", "--nodes", "2")
    assert r.code == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "fleetload: error: --nodes applies to cluster runs only: add --cluster "
        "ray://HOST:10001 (or --cluster auto on a cluster node)")
    r = run_cli("ceiling", str(SCRIPT), "--slo", "p(99)<100", "--cluster", "auto",
                "--lease", "soon")
    assert r.code == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "fleetload: error: invalid --lease 'soon': expected e.g. '30s', '5m', '1h30m', "
        "'250ms', '2d'")
