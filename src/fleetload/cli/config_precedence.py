"""k6's order for ``run`` and ``ceiling``: defaults < file < script < environment
< flags. A value from fleetload.toml is a weak default: it fills what the
script leaves unset and never overrides the script's own ``options``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import click
from click.core import ParameterSource

from fleetload.engine.plan import Plan
from fleetload.errors import FleetloadError
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe

from .config_file import FileDefaults, env_name

CLIENT_FIELDS = ("target", "token", "insecure", "ca_file", "client_cert", "client_key")
"""Overrides fields that fill the script's client options where it sets none."""
SCHEDULE_FIELDS = ("duration", "rate", "vus", "max_in_flight")
"""Overrides fields a script always sets itself (its scenarios)."""


def from_file(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.DEFAULT_MAP


def given(ctx: click.Context, name: str) -> bool:
    """Set by a flag or an environment variable (a file value is only a default)."""
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                              ParameterSource.ENVIRONMENT)


@dataclass(frozen=True)
class Built:
    recipe: PlanRecipe
    plan: Plan
    notes: tuple[str, ...]


def build_with_file_defaults(ctx: click.Context, overrides: Overrides,
                             make_recipe: Callable[[Overrides], PlanRecipe], *,
                             script: bool) -> Built:
    """Build the plan with the file's values applied only where the script
    leaves them unset. For a one-liner (no script) the file's values apply
    as given."""
    if not script:
        recipe = make_recipe(overrides)
        return Built(recipe, recipe.build(), ())
    weak = {name: getattr(overrides, name) for name in CLIENT_FIELDS
            if from_file(ctx, name) and getattr(overrides, name) is not None}
    weak_headers = overrides.headers if from_file(ctx, "headers") else ()
    dropped = [name for name in SCHEDULE_FIELDS
               if from_file(ctx, name) and getattr(overrides, name) is not None]
    cleared: dict[str, Any] = {name: None for name in (*weak, *dropped)}
    if weak_headers:
        cleared["headers"] = ()
    strong = replace(overrides, **cleared) if cleared else overrides
    recipe = make_recipe(strong)
    try:
        plan = recipe.build()
    except FleetloadError:
        if not weak and not weak_headers:
            raise
        # A script that cannot be built without them (it requires a target,
        # say) sets none of them itself: the file's values all apply.
        fill: dict[str, Any] = dict(weak)
        if weak_headers:
            fill["headers"] = weak_headers
    else:
        fill = {name: value for name, value in weak.items()
                if getattr(plan.client, name) in (None, False)}
        if weak_headers:
            script_names = {name.lower() for name in plan.client.headers}
            kept = tuple(h for h in weak_headers if h[0].lower() not in script_names)
            if kept:
                fill["headers"] = kept
    if fill:
        recipe = make_recipe(replace(strong, **fill))
        plan = recipe.build()
    defaults: FileDefaults | None = ctx.find_root().meta.get("fleetload.file_defaults")
    label = defaults.label((ctx.info_name or "run",)) if defaults else "fleetload.toml"
    notes = tuple(_dropped_note(ctx, name, label) for name in dropped)
    return Built(recipe, plan, notes)


def _dropped_note(ctx: click.Context, name: str, label: str) -> str:
    param = next(p for p in ctx.command.params if p.name == name)
    flag = next(o for o in param.opts if o.startswith("--"))
    return (f"note: {label} {flag[2:]} not applied: the script's scenarios set their own "
            f"(give {flag} or {env_name(param)} to override them)")
