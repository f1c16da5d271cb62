"""The search logic, step judgement, SLO parsing and constraint naming (no network)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetload.capacity.ceiling import (
    BREAKS_AT_FROM,
    FOUND,
    GENERATOR_BOUND,
    NO_BREAK,
    SearchSettings,
    search,
)
from fleetload.capacity.constraint import findings, fmt_ms
from fleetload.capacity.slo import SLOResult, parse_slo
from fleetload.capacity.steps import BREAKS, OK, StepSettings, judge
from fleetload.capacity.window import SeriesStats
from fleetload.errors import ConfigError
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe


@dataclass
class FakeStep:
    rate: float
    verdict: str


def run_search(settings: SearchSettings, capacity: float, gen_limit: float = 1e9) -> tuple[
        list[float], object]:
    async def run(rate: float) -> FakeStep:
        if rate >= gen_limit:
            return FakeStep(rate, "generator-bound")
        return FakeStep(rate, OK if rate <= capacity else BREAKS)

    result = asyncio.run(search(settings, run))
    return [s.rate for s in result.steps], result


def test_geometric_then_bisection() -> None:
    rates, result = run_search(SearchSettings(10, 10_000, factor=2, precision=0.1), capacity=230)
    assert rates[:6] == [10, 20, 40, 80, 160, 320]
    assert result.status == FOUND  # type: ignore[attr-defined]
    good, bad = result.good.rate, result.bad.rate  # type: ignore[attr-defined]
    assert good <= 230 < bad and bad / good <= 1.1
    assert len(rates) <= 12


def test_no_break_up_to_to() -> None:
    rates, result = run_search(SearchSettings(10, 50), capacity=1e6)
    assert rates == [10, 20, 40, 50]
    assert result.status == NO_BREAK  # type: ignore[attr-defined]


def test_breaks_at_from() -> None:
    rates, result = run_search(SearchSettings(100, 1000), capacity=50)
    assert rates == [100] and result.status == BREAKS_AT_FROM  # type: ignore[attr-defined]


def test_generator_bound_stops_the_search() -> None:
    rates, result = run_search(SearchSettings(10, 1000), capacity=1e6, gen_limit=60)
    assert rates == [10, 20, 40, 80]
    assert result.status == GENERATOR_BOUND  # type: ignore[attr-defined]
    assert result.good.rate == 40 and result.bad is None  # type: ignore[attr-defined]


def test_settings_validated() -> None:
    for bad in (SearchSettings(0, 10), SearchSettings(10, 5), SearchSettings(1, 10, factor=1),
                SearchSettings(1, 10, precision=0)):
        with pytest.raises(ConfigError):
            bad.validate()


def test_slo_parsing() -> None:
    bare = parse_slo("p(99)<1000")
    assert bare.selector.metric == "http_req_duration" and bare.threshold.percentile == 99
    failed = parse_slo("http_req_failed:rate<0.01")
    assert failed.selector.metric == "http_req_failed" and failed.threshold.value == 0.01
    tagged = parse_slo("http_req_duration{scenario:create}:p(95)<200")
    assert tagged.selector.tags == (("scenario", "create"),)
    for bad in ("p99<1000", "http_req_failed:p(99)<1", "http_req_duration:rate<1", "nonsense"):
        with pytest.raises(ConfigError):
            parse_slo(bad)


def _settings() -> StepSettings:
    return StepSettings(PlanRecipe(Overrides()), (), 1.0, 2.0, Path("/tmp"))


def test_judge_generator_bound_reasons() -> None:
    good = [SLOResult("p", True, 1.0)]
    broken = [SLOResult("p", False, 5000.0)]
    st = _settings()
    assert judge(st, good, gen_cpu=20, lag_p99_ms=1, dropped_frac=0, max_in_flight=[10])[0] == OK
    assert judge(st, broken, gen_cpu=20, lag_p99_ms=1, dropped_frac=0.5,
                 max_in_flight=[10])[0] == BREAKS  # the target's slowness filled the cap
    verdict, reasons = judge(st, broken, gen_cpu=99, lag_p99_ms=500, dropped_frac=0,
                             max_in_flight=[10])
    assert verdict == "generator-bound" and "CPU 99%" in reasons[0]
    verdict, reasons = judge(st, good, gen_cpu=10, lag_p99_ms=1, dropped_frac=0.3,
                             max_in_flight=[2])
    assert verdict == "generator-bound" and "max_in_flight 2" in reasons[0]
    # Lag with an idle generator is CPU contention, not a saturated generator.
    assert judge(st, good, gen_cpu=10, lag_p99_ms=300, dropped_frac=0, max_in_flight=[10])[0] == OK


def s(mean: float, mx: float | None = None) -> SeriesStats:
    return SeriesStats(mean, mean, mx if mx is not None else mean, mean)


def test_constraint_names_the_pool() -> None:
    src = "prometheus:http://127.0.0.1:1/metrics"
    good = {src: {"fleetplane_db_pool_size": s(50), "fleetplane_db_pool_in_use": s(12),
                  "fleetplane_db_pool_waiting": s(0)},
            "process:1": {"cpu_max_pct": s(40)}}
    bad = {src: {"fleetplane_db_pool_size": s(50), "fleetplane_db_pool_in_use": s(50),
                 "fleetplane_db_pool_waiting": s(37, 60)},
           "process:1": {"cpu_max_pct": s(70)}}
    found = findings(good, bad, 40.0, 2100.0)
    assert found[0].kind == "db-pool"
    assert found[0].text == ("database pool 50/50 in use and waiting connections rising from 0 "
                             "to 37 (peak 60) while p99 went from 40 ms to 2.1 s")


def test_constraint_names_cpu_when_pool_is_idle() -> None:
    bad = {"prometheus:x": {"app_db_pool_size": s(50), "app_db_pool_in_use": s(8),
                            "app_db_pool_waiting": s(0)},
           "process:fleetplane": {"cpu_max_pct": s(97)}}
    found = findings(None, bad, None, 800.0)
    assert [f.kind for f in found] == ["cpu"]
    assert found[0].text.startswith("fleetplane CPU at 97% of a core")
    assert fmt_ms(0.42) == "0.42 ms" and fmt_ms(12_000) == "12 s"


def test_saturated_cpu_outranks_a_pool_it_filled() -> None:
    bad = {"prometheus:x": {"fleetplane_db_pool_size": s(50), "fleetplane_db_pool_in_use": s(50),
                            "fleetplane_db_pool_waiting": s(600)},
           "process:7": {"cpu_max_pct": s(98)}}
    found = findings(None, bad, 167.0, 856.0)
    assert [f.kind for f in found][:2] == ["cpu", "db-pool"]


def test_cpu_starved_by_other_processes_counts_as_cpu_bound() -> None:
    # 61 % busy plus 33 % waiting for a core: the pool filled as an effect.
    bad = {"prometheus:x": {"fleetplane_db_pool_size": s(50), "fleetplane_db_pool_in_use": s(50),
                            "fleetplane_db_pool_waiting": s(600)},
           "process:7": {"cpu_max_pct": s(61), "cpu_demand_max_pct": s(94)}}
    found = findings(None, bad, 70.0, 2500.0)
    assert found[0].kind == "cpu"
    assert "61% of a core plus 33% waiting for a core" in found[0].text
