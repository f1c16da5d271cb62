"""The schedule flags of ``fleetload run`` applied to a script's scenarios.

``--duration``, ``--rate``, ``--vus`` and ``--max-in-flight`` each take effect
on the scenarios whose executor has that option (:meth:`Executor.overridable`).
A flag that applies to some scenarios and not others gives one note naming
the others; a flag no scenario takes is an error, unless the script declares a
parameter of that name (``param("rate")``), which then consumes it. A flag
never passes silently.

``--rate`` is iterations per second. With several constant-arrival-rate
scenarios it is their total, split in the proportions the script gives them,
so ``fleetload run api-tier --rate 100`` runs the 50/50 mix at 100/s in all
(and a ceiling step at R/s offers R/s).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from fleetload.engine.executors.base import ScheduleOverrides
from fleetload.engine.plan import Scenario
from fleetload.errors import ConfigError

FLAGS = {"duration": "--duration", "rate": "--rate", "vus": "--vus",
         "max_in_flight": "--max-in-flight"}

APPLIES_TO = {
    "duration": "every executor",
    "rate": "constant-arrival-rate scenarios (a ramping-arrival-rate follows its stages)",
    "vus": "constant-vus, per-vu-iterations and shared-iterations scenarios "
           "(ramping-vus follows its stages)",
    "max_in_flight": "constant- and ramping-arrival-rate scenarios",
}


def _listing(scenarios: Sequence[Scenario]) -> str:
    return ", ".join(f"{s.name} ({s.executor.kind})" for s in scenarios)


def rate_shares(takers: Sequence[Scenario], total: float) -> dict[str, float]:
    """``total`` iterations/s split over ``takers`` in the script's proportions."""
    weights = {s.name: s.executor.rate_per_second() or 0.0 for s in takers}
    whole = sum(weights.values())
    if whole <= 0:
        return {name: total / len(weights) for name in weights}
    return {name: total * w / whole for name, w in weights.items()}


def apply_schedule_flags(scenarios: Sequence[Scenario], o: ScheduleOverrides,
                         params: Collection[str], source: str) -> tuple[list[Scenario], list[str]]:
    """The scenarios with the flags applied, and the note lines to show."""
    given = [name for name in FLAGS if getattr(o, name) is not None]
    notes: list[str] = []
    takers: dict[str, list[Scenario]] = {}
    for name in given:
        takers[name] = [s for s in scenarios if name in s.executor.overridable()]
        others = [s for s in scenarios if name not in s.executor.overridable()]
        if name in params:
            continue  # the script reads it as its own parameter
        if not takers[name]:
            raise ConfigError(f"{FLAGS[name]} does not apply to {source}: its scenarios are "
                              f"{_listing(others)}; {FLAGS[name]} sets {APPLIES_TO[name]} "
                              f"or a script parameter param({name!r})")
        if others:
            notes.append(f"note: {FLAGS[name]} applied to {', '.join(s.name for s in takers[name])}; "
                         f"not to {_listing(others)}")
    shares: dict[str, float] = {}
    if o.rate is not None and takers.get("rate"):
        shares = rate_shares(takers["rate"], o.rate)
        if len(shares) > 1:
            split = ", ".join(f"{name} {r:.4g}/s" for name, r in shares.items())
            notes.append(f"note: --rate {o.rate:g}/s is the total of {len(shares)} "
                         f"constant-arrival-rate scenarios, split as in the script: {split}")
    out = []
    for s in scenarios:
        mine = replace(o, rate=shares.get(s.name)) if o.rate is not None else o
        out.append(replace(s, executor=s.executor.with_overrides(mine)))
    return out, notes
