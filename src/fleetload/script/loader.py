"""Loading a load script (a Python file) into a :class:`Plan`."""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from fleetload.engine.executors import executor_from_options
from fleetload.errors import FleetloadError, ScriptError
from fleetload.metrics.kinds import BUILTIN, Kind, MetricInfo
from fleetload.metrics.thresholds import ThresholdSet, parse_thresholds, validate_against
from fleetload.script import metrics as script_metrics
from fleetload.script import params as script_params
from fleetload.script.model import SCENARIO_ATTR, Scenario
from fleetload.script.options import ClientOptions, Overrides
from fleetload.script.schedule_flags import apply_schedule_flags

ENV: dict[str, str] = {}
"""Script variables (``-e KEY=VALUE`` over the process environment), readable at
import time as ``fleetload.env``."""


@dataclass
class Plan:
    """Everything a run needs from a script, after CLI overrides."""

    source: str
    scenarios: list[Scenario]
    thresholds: list[ThresholdSet]
    client: ClientOptions
    setup: Callable[..., Any] | None = None
    teardown: Callable[..., Any] | None = None
    metrics: dict[str, MetricInfo] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    handle_summary: Callable[..., Any] | None = None
    """``handle_summary(summary, view) -> dict``: extra top-level summary sections;
    a ``text_sections`` key (``{title: [line, ...]}``) adds to the text summary."""
    max_workers: int | None = None
    """A script that must run in fewer processes (``max_workers = 1``) says so."""
    notes: list[str] = field(default_factory=list)
    """One line each: how the command line's flags applied (shown once, by the CLI)."""

    def kind_of(self, name: str) -> Kind | None:
        info = BUILTIN.get(name) or self.metrics.get(name)
        return info.kind if info else None


def script_env(overrides: Overrides) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides.env)
    return env


def import_script(path: Path, env: Mapping[str, str]) -> ModuleType:
    if not path.is_file():
        raise ScriptError(f"script not found: {path}")
    ENV.clear()
    ENV.update(env)
    script_metrics.DECLARED.clear()
    script_params.DECLARED.clear()
    module_name = f"fleetload_script_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScriptError(f"cannot load {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except FleetloadError as exc:
        raise ScriptError(str(exc), where=_script_line(exc, path)) from None
    except SyntaxError as exc:
        raise ScriptError(f"syntax error: {exc.msg}", where=f"{path}:{exc.lineno}") from None
    except Exception as exc:
        raise ScriptError(f"{type(exc).__name__}: {exc}", where=_script_line(exc, path)) from None
    return module


def _script_line(exc: BaseException, path: Path) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if Path(f.filename).resolve() == path.resolve()]
    return f"{path}:{frames[-1].lineno}" if frames else str(path)


def plan_from_module(module: ModuleType, source: str, overrides: Overrides,
                     env: Mapping[str, str]) -> Plan:
    where = source
    scenarios: list[Scenario] = [
        getattr(obj, SCENARIO_ATTR) for obj in vars(module).values()
        if callable(obj) and hasattr(obj, SCENARIO_ATTR)
    ]
    declared = getattr(module, "scenarios", None)
    if declared is not None:
        scenarios.extend(_k6_scenarios(module, declared, where))
    if not scenarios:
        raise ScriptError("no scenarios: decorate an 'async def fn(vu)' with "
                          "@scenario(ConstantArrivalRate(...)) or define a 'scenarios' dict",
                          where=where)
    names = [s.name for s in scenarios]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ScriptError(f"duplicate scenario name(s): {', '.join(sorted(dupes))}", where=where)

    scenarios, notes = apply_schedule_flags(scenarios, overrides.schedule(),
                                            set(script_params.DECLARED), source)

    raw_options = getattr(module, "options", {}) or {}
    if not isinstance(raw_options, Mapping):
        raise ScriptError("'options' must be a dict", where=where)
    client = overrides.apply_client(ClientOptions.from_mapping(raw_options, where=f"{where} options"))

    raw_thresholds: dict[str, list[Any]] = {}
    for key, specs in (getattr(module, "thresholds", {}) or {}).items():
        raw_thresholds[key] = list(specs) if isinstance(specs, list | tuple) else [specs]
    for selector, expr in overrides.thresholds:
        raw_thresholds.setdefault(selector, []).append(expr)
    thresholds = parse_thresholds(raw_thresholds)

    plan = Plan(source=source, scenarios=scenarios, thresholds=thresholds, client=client,
                setup=_hook(module, "setup", where), teardown=_hook(module, "teardown", where),
                handle_summary=_sync_hook(module, "handle_summary", where),
                max_workers=_max_workers(module, where),
                metrics=dict(script_metrics.DECLARED), env=dict(env), notes=notes)
    validate_against(thresholds, plan.kind_of)
    return plan


def _hook(module: ModuleType, name: str, where: str) -> Callable[..., Any] | None:
    fn = getattr(module, name, None)
    if fn is None:
        return None
    if not inspect.iscoroutinefunction(fn):
        raise ScriptError(f"{name}() must be 'async def'", where=where)
    return fn  # type: ignore[no-any-return]


def _max_workers(module: ModuleType, where: str) -> int | None:
    value = getattr(module, "max_workers", None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScriptError(f"max_workers must be a whole number >= 1, got {value!r}", where=where)
    return value


def _sync_hook(module: ModuleType, name: str, where: str) -> Callable[..., Any] | None:
    fn = getattr(module, name, None)
    if fn is None:
        return None
    if not callable(fn) or inspect.iscoroutinefunction(fn):
        raise ScriptError(f"{name}() must be a plain (not async) function", where=where)
    return fn  # type: ignore[no-any-return]


def _k6_scenarios(module: ModuleType, declared: Any, where: str) -> list[Scenario]:
    """k6's ``scenarios = {"name": {"executor": ..., "exec": "fn", ...}}``."""
    if not isinstance(declared, Mapping):
        raise ScriptError("'scenarios' must be a dict of name -> options", where=where)
    out = []
    for name, raw in declared.items():
        if not isinstance(raw, Mapping):
            raise ScriptError(f"scenario {name!r} must be a dict of options", where=where)
        opts = dict(raw)
        fn_name = opts.pop("exec", name)
        fn = getattr(module, fn_name, None)
        if fn is None or not inspect.iscoroutinefunction(fn):
            raise ScriptError(f"scenario {name!r}: exec function {fn_name!r} is not an "
                              "'async def' in the script", where=where)
        tags = opts.pop("tags", {}) or {}
        executor = executor_from_options(opts, where=f"{where} scenario {name}")
        out.append(Scenario(str(name), fn, executor, dict(tags)))
    return out


def load_script(path: str, overrides: Overrides) -> Plan:
    env = script_env(overrides)
    script_params.VALUES.clear()
    script_params.VALUES.update(overrides.param_values())
    script_params.EXTRA.clear()
    script_params.EXTRA.update(overrides.params)
    module = import_script(Path(path), env)
    script_params.check_unknown(path)
    return plan_from_module(module, path, overrides, env)


def declared_params(path: str) -> tuple[list[script_params.ParamInfo], str | None]:
    """The parameters a script declares, by importing it with nothing given
    (required ones get placeholders), and why the import stopped early, if it
    did: the parameters declared before that point are still listed. Nothing
    is sent anywhere: scripts talk to the target in setup() and scenarios."""
    script_params.VALUES.clear()
    script_params.EXTRA.clear()
    script_params.LISTING = True
    try:
        import_script(Path(path), dict(os.environ))
        problem = None
    except FleetloadError as exc:
        problem = str(exc)
    finally:
        script_params.LISTING = False
    return list(script_params.DECLARED.values()), problem
