"""``fleetload run PACK --help``: the command's help, then the script's own
parameters (declared with ``param(...)``), read by importing the script with
nothing given, so listing them needs no target and no required value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

META_KEY = "fleetload.raw_args"


class ScriptCommand(click.Command):
    """A command taking a SCRIPT argument whose ``--help`` also lists the
    script's parameters when a script is named before or after ``--help``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[META_KEY] = list(args)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help(ctx, formatter)
        script = self._script_named(ctx, ctx.meta.get(META_KEY, []))
        if script:
            format_script_params(script, formatter)

    def _script_named(self, ctx: click.Context, args: Sequence[str]) -> str | None:
        rest = [a for a in args if a not in self.get_help_option_names(ctx)]
        try:
            opts: dict[str, Any] = self.make_parser(ctx).parse_args(rest)[0]
        except click.UsageError:
            return None
        script = opts.get("script")
        return script if isinstance(script, str) else None


def format_script_params(name: str, formatter: click.HelpFormatter) -> None:
    from fleetload.errors import FleetloadError
    from fleetload.script.loader import declared_params
    from fleetload.script.options import RUN_FLAGS_AS_PARAMS
    from fleetload.script.params import help_rows

    from .run import resolve_script

    title = f"Parameters of {name}"
    try:
        params, problem = declared_params(resolve_script(name))
    except FleetloadError as exc:
        params, problem = [], str(exc)
    if not params and problem:
        with formatter.section(title):
            formatter.write_text(f"(cannot list them: {problem})")
        return
    with formatter.section(title + " (give them after the script, e.g. --name value)"):
        if params:
            formatter.write_dl(help_rows(params, RUN_FLAGS_AS_PARAMS))
        else:
            formatter.write_text("(none declared)")
        if problem:
            formatter.write_paragraph()
            formatter.write_text(f"(loading stopped without the required values, at {problem}; "
                                 "a parameter declared after that point is not listed)")
