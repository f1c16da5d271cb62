"""The ceiling search: geometric steps up, then bisection.

From ``from_rate`` the rate is multiplied by ``factor`` after every good step
until a step breaks an SLO or ``to_rate`` was measured good. Then the interval
between the last good and the first bad rate is bisected until
``bad / good <= 1 + precision``. A generator-bound step ends the search: the
target's ceiling is then only known to be above the last good rate, and
pretending otherwise would report the load generator's limit as the target's.
A step that lost a cluster node ends it too: that step offered less than its
rate, so the ceiling stands on the steps measured before it.

The search only decides which rate to try next; running a step (cooldown,
run, judgement) is the ``run`` callable's job, so the logic is testable alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleetload.errors import ConfigError

# Why a search ended.
FOUND = "found"  # a good and a bad rate within the precision
NO_BREAK = "no-break"  # every step up to --to met the SLOs
BREAKS_AT_FROM = "breaks-at-from"  # the first step already broke an SLO
GENERATOR_BOUND = "generator-bound"  # the generator, not the target, was the limit
MAX_STEPS = "max-steps"  # the step budget ran out before the precision was reached
NODE_LOST = "node-lost"  # a cluster node was lost during a step (--cluster)


class StepLike(Protocol):
    rate: float
    verdict: str  # "ok" | "breaks" | "generator-bound" | "node-lost"


@dataclass(frozen=True)
class SearchSettings:
    from_rate: float
    to_rate: float
    factor: float = 2.0
    precision: float = 0.10
    max_steps: int = 20

    def validate(self) -> None:
        if self.from_rate <= 0:
            raise ConfigError(f"--from must be greater than 0, got {self.from_rate:g}")
        if self.to_rate < self.from_rate:
            raise ConfigError(f"--to ({self.to_rate:g}) must not be below --from ({self.from_rate:g})")
        if self.factor <= 1.0:
            raise ConfigError(f"--factor must be greater than 1, got {self.factor:g}")
        if not 0 < self.precision < 1:
            raise ConfigError(f"--precision must be between 0 and 1, got {self.precision:g}")
        if self.max_steps < 1:
            raise ConfigError("--max-steps must be at least 1")


@dataclass
class SearchResult:
    status: str
    steps: list[Any] = field(default_factory=list)
    good: Any | None = None  # the highest rate that met every SLO
    bad: Any | None = None  # the lowest rate that broke one
    generator_bound: Any | None = None  # the step where the generator was the limit
    node_lost: Any | None = None  # the step during which a cluster node was lost
    stop_reason: str = ""  # why the search stopped, for the headline and ceiling.json


def _round(rate: float) -> float:
    """Rates people can read and type again (3 significant digits)."""
    return float(f"{rate:.3g}")


async def search(settings: SearchSettings, run: Callable[[float], Awaitable[StepLike]],
                 *, on_step: Callable[[StepLike], None] | None = None) -> SearchResult:
    settings.validate()
    result = SearchResult(status=MAX_STEPS)

    async def step(rate: float) -> StepLike:
        s = await run(rate)
        result.steps.append(s)
        if on_step is not None:
            on_step(s)
        return s

    def ended(status: str, reason: str) -> SearchResult:
        result.status, result.stop_reason = status, reason
        return result

    def generator_bound(s: StepLike) -> SearchResult:
        result.generator_bound = s
        return ended(GENERATOR_BOUND, "the generator, not the target, was the limit "
                                      f"at {s.rate:g}/s")

    def node_lost(s: StepLike) -> SearchResult:
        result.node_lost = s
        # A step that lost a node says which one in its reasons.
        which = "; ".join(getattr(s, "reasons", None) or ["a cluster node was lost"])
        return ended(NODE_LOST, f"{which} during the step at {s.rate:g}/s: the ceiling stands "
                                "on the steps measured before it")

    rate = settings.from_rate
    # Phase 1: geometric steps until something breaks or --to holds.
    while len(result.steps) < settings.max_steps:
        s = await step(rate)
        if s.verdict == "generator-bound":
            return generator_bound(s)
        if s.verdict == "node-lost":
            return node_lost(s)
        if s.verdict != "ok":
            result.bad = s
            break
        result.good = s
        if rate >= settings.to_rate:
            return ended(NO_BREAK, f"it reached --to {settings.to_rate:g}/s")
        rate = min(_round(rate * settings.factor), settings.to_rate)
    if result.bad is None:
        return ended(MAX_STEPS, f"--max-steps {settings.max_steps} ran out before "
                                f"--to {settings.to_rate:g}/s")
    if result.good is None:
        return ended(BREAKS_AT_FROM, "the first step (--from) already broke an SLO")
    # Phase 2: bisection between the last good and the first bad rate.
    while result.bad.rate / result.good.rate > 1.0 + settings.precision:
        if len(result.steps) >= settings.max_steps:
            return ended(MAX_STEPS, f"--max-steps {settings.max_steps} ran out before "
                                    f"--precision {settings.precision:g}")
        mid = _round((result.good.rate + result.bad.rate) / 2.0)
        if mid <= result.good.rate or mid >= result.bad.rate:
            return ended(FOUND, "no rate is left between the last good and the first bad "
                                "one at 3 significant digits")
        s = await step(mid)
        if s.verdict == "generator-bound":
            return generator_bound(s)
        if s.verdict == "node-lost":
            return node_lost(s)
        if s.verdict == "ok":
            result.good = s
        else:
            result.bad = s
    return ended(FOUND, f"the last good and the first bad rate are within --precision "
                        f"{settings.precision:g}")
