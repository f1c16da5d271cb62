"""The ``fleetload`` command.

Subcommands are imported when they are invoked (or listed by ``--help``), so a
one-liner does not pay for the ceiling search, the HTML report or the
reference target's modules, and a core install without the ``target`` extra
still runs everything but ``fleetload target``/``seed``/``demo``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from fleetload._build import build
from fleetload._version import __version__
from fleetload.errors import ExitCode, FleetloadError

from .config_file import add_envvars, load_file_defaults

# name -> (module, attribute, extra needed beyond the core install or None)
COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "run": ("fleetload.cli.run", "run_cmd", None),
    "demo": ("fleetload.cli.demo", "demo_cmd", "target"),
    "ceiling": ("fleetload.cli.ceiling", "ceiling_cmd", None),
    "plan": ("fleetload.cli.plan", "plan_cmd", None),
    "init": ("fleetload.cli.init", "init_cmd", None),
    "cleanup": ("fleetload.cli.cleanup", "cleanup_cmd", None),
    "target": ("fleetplane.cli", "target", "target"),
    "seed": ("fleetplane.cli", "seed", "target"),
    "runs": ("fleetload.cli.runs", "runs_cmd", None),
    "report": ("fleetload.cli.report", "report_cmd", None),
    "export": ("fleetload.cli.export", "export_cmd", None),
    "baseline": ("fleetload.cli.baseline", "baseline_cmd", None),
    "compare": ("fleetload.cli.compare", "compare_cmd", None),
    "completion": ("fleetload.cli.completion", "completion_cmd", None),
    "config": ("fleetload.cli.config_show", "config_cmd", None),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, _ = spec
        command: click.Command = getattr(importlib.import_module(module), attr)
        return add_envvars(command)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            # A subcommand whose optional dependencies are not installed.
            name = ctx.invoked_subcommand or ""
            extra = COMMANDS.get(name, ("", "", None))[2] or extra_for(exc.name or "")
            if extra is None:
                raise
            click.echo(f"fleetload: error: 'fleetload {name}' needs the {extra!r} extra "
                       f"(missing module {exc.name}): pip install 'fleetload[{extra}]'", err=True)
            ctx.exit(int(ExitCode.INVALID_INPUT))


# Top-level modules of the optional extras, for the message above.
_EXTRAS = {"starlette": "target", "uvicorn": "target", "aiosqlite": "target",
           "psycopg": "postgres", "psycopg_pool": "target", "grpc": "grpc",
           "google": "grpc", "ray": "ray", "cramjam": "prometheus"}


def extra_for(module: str) -> str | None:
    return _EXTRAS.get(module.split(".", 1)[0])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="fleetload",
                      message=f"%(prog)s, version %(version)s, {build()}")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Load testing and capacity planning for fleet control planes.

    Every option can also come from a FLEETLOAD_<OPTION> environment variable
    or from ./fleetload.toml (docs/configuration.md); flags win over both.
    """
    try:
        defaults = load_file_defaults(Path.cwd(), lambda name: cli.get_command(ctx, name))
    except FleetloadError as exc:
        click.echo(f"fleetload: error: {exc}", err=True)
        ctx.exit(int(exc.exit_code))
    ctx.default_map = defaults.default_map
    ctx.meta["fleetload.file_defaults"] = defaults


def main() -> None:
    cli(prog_name="fleetload")
