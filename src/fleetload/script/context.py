"""The state of one script load: what a script sees while it is imported.

A load has its own context (the env, the parameter values the command line
gave, the parameters and metrics the script declares); the loader enters it
for the import and leaves it afterwards, so two loads in one process (a
ceiling search, a worker, the tests) never see each other's state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fleetload.engine.vu import current_vu
from fleetload.metrics.custom import declaring
from fleetload.metrics.kinds import MetricInfo


@dataclass
class LoadContext:
    env: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    """What the command line gave, by parameter name."""
    extra: set[str] = field(default_factory=set)
    """Names given on the command line that are not the run's own flags."""
    params: dict[str, Any] = field(default_factory=dict)
    """The parameters the script declared (name -> ``ParamInfo``)."""
    metrics: dict[str, MetricInfo] = field(default_factory=dict)
    """The custom metrics the script declared."""
    listing: bool = False
    """True while a script is imported only to list its parameters (``run PACK
    --help``): a missing required parameter then gives a placeholder, not an error."""


_current: ContextVar[LoadContext | None] = ContextVar("fleetload_load", default=None)


def current_load() -> LoadContext:
    """The load in progress, or an empty one (a script imported some other way)."""
    ctx = _current.get()
    return ctx if ctx is not None else LoadContext(env=dict(os.environ))


@contextmanager
def loading(ctx: LoadContext) -> Iterator[LoadContext]:
    """Enter ``ctx`` for the duration of a script's import."""
    token = _current.set(ctx)
    try:
        with declaring() as metrics:
            ctx.metrics = metrics
            yield ctx
    finally:
        _current.reset(token)


class EnvView(Mapping[str, str]):
    """``fleetload.env``: the script variables (``-e KEY=VALUE`` over the
    process environment) of the load in progress, or, while an iteration
    runs, of the run it belongs to (``vu.env``); else the process environment."""

    def _data(self) -> Mapping[str, str]:
        ctx = _current.get()
        if ctx is not None:
            return ctx.env
        vu = current_vu.get()
        return vu.env if vu is not None else os.environ

    def __getitem__(self, key: str) -> str:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return f"<fleetload.env: {len(self)} variables>"


ENV = EnvView()

__all__ = ["ENV", "EnvView", "LoadContext", "current_load", "loading"]
