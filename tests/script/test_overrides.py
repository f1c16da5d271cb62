"""Schedule overrides (--rate, --vus, --duration, --max-in-flight) on executors
and on a script's scenarios: what each takes, in which unit, and what is
said about the scenarios a flag does not apply to (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetload.engine.executors import (
    ConstantArrivalRate,
    ConstantVUs,
    RampingArrivalRate,
    RampingVUs,
    ScheduleOverrides,
    SharedIterations,
)
from fleetload.engine.executors.base import Executor
from fleetload.engine.plan import Scenario
from fleetload.errors import ConfigError
from fleetload.script.schedule_flags import apply_schedule_flags


async def _noop(vu: Any) -> None:
    return None


def _sc(name: str, executor: Executor) -> Scenario:
    return Scenario(name, _noop, executor)


def test_rate_is_per_second_whatever_the_time_unit() -> None:
    storm = ConstantArrivalRate(rate=5000, time_unit="30s", duration="5m")
    assert storm.per_second == pytest.approx(166.67, rel=1e-3)
    stepped = storm.with_overrides(ScheduleOverrides(rate=100))
    assert stepped.rate == 100 and stepped.time_unit == 1.0 and stepped.per_second == 100
    assert stepped.options()["time_unit"] == 1.0
    assert "derived" not in stepped.options()


def test_a_derived_cap_follows_the_new_rate_and_a_given_one_stays() -> None:
    derived = ConstantArrivalRate(rate=5000, time_unit="30s", duration="1m")
    assert derived.max_in_flight == 167 and derived.pre_allocated == 100
    assert derived.with_overrides(ScheduleOverrides(rate=2000)).max_in_flight == 2000
    assert derived.with_overrides(ScheduleOverrides(rate=10)).max_in_flight == 100
    given = ConstantArrivalRate(rate=10, duration="1m", max_in_flight=7, pre_allocated=5)
    assert given.with_overrides(ScheduleOverrides(rate=2000)).max_in_flight == 7


def test_max_in_flight_override_caps_pre_allocated_too() -> None:
    ex = ConstantArrivalRate(rate=50, duration="1m", max_in_flight=5)
    capped = ex.with_overrides(ScheduleOverrides(max_in_flight=1))
    assert capped.max_in_flight == 1 and capped.pre_allocated == 1
    assert capped.rate == 50  # only the cap changed
    # a later rate override keeps the cap given on the command line
    assert capped.with_overrides(ScheduleOverrides(rate=500)).max_in_flight == 1
    ramp = RampingArrivalRate(start_rate=0, stages=(("10s", 300),))
    assert ramp.max_in_flight == 300
    assert ramp.with_overrides(ScheduleOverrides(max_in_flight=3)).max_in_flight == 3


def test_what_each_executor_takes() -> None:
    assert ConstantArrivalRate(rate=1, duration="1s").overridable() == {
        "duration", "rate", "max_in_flight"}
    assert RampingArrivalRate(stages=(("1s", 5),)).overridable() == {"duration", "max_in_flight"}
    assert ConstantVUs(vus=1, duration="1s").overridable() == {"duration", "vus"}
    assert SharedIterations(vus=1, iterations=5).overridable() == {"duration", "vus"}
    assert RampingVUs(stages=(("1s", 5),)).overridable() == {"duration"}
    ramp = RampingArrivalRate(stages=(("2s", 5),)).with_overrides(ScheduleOverrides(rate=50))
    assert ramp.stages == ((2.0, 5.0),)  # not taken: the caller reports it


def test_rate_is_the_total_split_as_in_the_script() -> None:
    create = _sc("create", ConstantArrivalRate(rate=30, duration="1m"))
    listing = _sc("list", ConstantArrivalRate(rate=60, time_unit="1m", duration="1m"))  # 1/s
    out, notes = apply_schedule_flags([create, listing], ScheduleOverrides(rate=62), (), "s.py")
    rates = {s.name: s.executor.rate_per_second() for s in out}
    assert rates == {"create": pytest.approx(60.0), "list": pytest.approx(2.0)}
    assert notes == ["note: --rate 62/s is the total of 2 constant-arrival-rate scenarios, "
                     "split as in the script: create 60/s, list 2/s"]


def test_a_flag_some_scenarios_do_not_take_gives_one_note() -> None:
    beat = _sc("beat", ConstantArrivalRate(rate=5, duration="1m"))
    loop = _sc("loop", ConstantVUs(vus=2, duration="1m"))
    out, notes = apply_schedule_flags([beat, loop], ScheduleOverrides(rate=9, max_in_flight=4),
                                      (), "s.py")
    assert notes == ["note: --rate applied to beat; not to loop (constant-vus)",
                     "note: --max-in-flight applied to beat; not to loop (constant-vus)"]
    assert out[0].executor.rate_per_second() == 9
    assert getattr(out[0].executor, "max_in_flight") == 4  # noqa: B009
    assert out[1].executor == loop.executor


def test_a_flag_no_scenario_takes_is_an_error() -> None:
    ramp = _sc("ramp", RampingArrivalRate(stages=(("10s", 50),)))
    with pytest.raises(ConfigError) as err:
        apply_schedule_flags([ramp], ScheduleOverrides(rate=10), (), "ramp.py")
    assert str(err.value) == (
        "--rate does not apply to ramp.py: its scenarios are ramp (ramping-arrival-rate); "
        "--rate sets constant-arrival-rate scenarios (a ramping-arrival-rate follows its "
        "stages) or a script parameter param('rate')")
    with pytest.raises(ConfigError) as err:
        apply_schedule_flags([ramp], ScheduleOverrides(vus=3), (), "ramp.py")
    assert str(err.value).startswith("--vus does not apply to ramp.py: its scenarios are "
                                     "ramp (ramping-arrival-rate); --vus sets constant-vus")
    loop = _sc("loop", ConstantVUs(vus=2, duration="1m"))
    with pytest.raises(ConfigError, match=r"^--max-in-flight does not apply to x\.py"):
        apply_schedule_flags([loop], ScheduleOverrides(max_in_flight=1), (), "x.py")


def test_a_script_parameter_of_the_same_name_consumes_the_flag() -> None:
    ramp = _sc("enroll", RampingArrivalRate(start_rate=5, stages=(("10s", 50),)))
    out, notes = apply_schedule_flags([ramp], ScheduleOverrides(rate=10), {"rate"}, "p.py")
    assert notes == [] and out[0].executor == ramp.executor
