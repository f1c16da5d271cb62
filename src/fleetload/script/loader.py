"""Loading a load script (a Python file) into a :class:`Plan`."""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from fleetload.engine.executors import executor_from_options
from fleetload.engine.plan import Plan, Scenario
from fleetload.errors import FleetloadError, ScriptError
from fleetload.metrics.thresholds import parse_thresholds, validate_against
from fleetload.protocols.http.options import ClientOptions
from fleetload.script import params as script_params
from fleetload.script.context import LoadContext, loading
from fleetload.script.model import SCENARIO_ATTR
from fleetload.script.options import Overrides
from fleetload.script.schedule_flags import apply_schedule_flags


def script_env(overrides: Overrides) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides.env)
    return env


def import_script(path: Path) -> ModuleType:
    """Import a script in the load context in force (:func:`loading`)."""
    if not path.is_file():
        raise ScriptError(f"script not found: {path}")
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
                     env: Mapping[str, str], load: LoadContext) -> Plan:
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
                                            set(load.params), source)

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
                metrics=dict(load.metrics), env=dict(env), notes=notes)
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
    load = LoadContext(env=env, values=overrides.param_values(), extra=set(overrides.params))
    with loading(load):
        module = import_script(Path(path))
        script_params.check_unknown(path, load)
        return plan_from_module(module, path, overrides, env, load)


def declared_params(path: str) -> tuple[list[script_params.ParamInfo], str | None]:
    """The parameters a script declares, by importing it with nothing given
    (required ones get placeholders), and why the import stopped early, if it
    did: the parameters declared before that point are still listed. Nothing
    is sent anywhere: scripts talk to the target in setup() and scenarios."""
    load = LoadContext(env=dict(os.environ), listing=True)
    with loading(load):
        try:
            import_script(Path(path))
            problem = None
        except FleetloadError as exc:
            problem = str(exc)
    return list(load.params.values()), problem
