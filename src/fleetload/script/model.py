"""What a load script declares: scenarios bound to executors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from fleetload.engine.executors import Executor
from fleetload.engine.plan import Scenario, ScenarioFn
from fleetload.errors import ScriptError

F = TypeVar("F", bound=ScenarioFn)

SCENARIO_ATTR = "__fleetload_scenario__"


def scenario(executor: Executor, *, name: str | None = None,
             tags: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Bind an ``async def fn(vu)`` to an executor::

        @scenario(ConstantArrivalRate(rate=50, duration="5m"))
        async def create(vu): ...
    """
    if not isinstance(executor, Executor):
        raise ScriptError(f"@scenario needs an executor such as ConstantArrivalRate(...), "
                          f"got {executor!r}")

    def wrap(fn: F) -> F:
        import inspect

        if not inspect.iscoroutinefunction(fn):
            raise ScriptError(f"scenario {fn.__name__!r} must be an 'async def' function")
        setattr(fn, SCENARIO_ATTR, Scenario(name or fn.__name__, fn, executor,
                                            dict(tags or {}) | dict(executor.tags)))
        return fn  # type: ignore[return-value]

    return wrap
