"""``fleetload config show [COMMAND]``: each option's effective value and where
it came from (default, the configuration file, or an environment variable)."""

from __future__ import annotations

import os
from typing import Any

import click
from click.core import ParameterSource

from fleetload.redact import MASK, is_secret_name, redact_argv, redact_url

from .config_file import FileDefaults, option_name
from .errors import handle_errors

FILE_DEFAULTS_KEY = "fleetload.file_defaults"
_SECRET_OPTIONS = frozenset({"token", "admin-key", "auth-secret", "api-key", "password"})


def is_secret_option(param: click.Parameter) -> bool:
    names = {opt.lstrip("-") for opt in param.opts}
    return bool(names & _SECRET_OPTIONS) or any(is_secret_name(n) for n in names)


def shown_value(param: click.Parameter, value: Any) -> str:
    """The value as a user would type it, secrets masked."""
    if value is None or value == ():
        return "-"
    if is_secret_option(param):
        return MASK
    if isinstance(value, tuple | list):
        flag = "--" + option_name(param)
        return ", ".join(redact_argv([flag, str(item)])[1] for item in value)
    if isinstance(value, str) and "://" in value:
        return redact_url(value) or "-"
    return str(value)


def source_of(ctx: click.Context, param: click.Parameter, file_defaults: FileDefaults,
              path: tuple[str, ...]) -> str:
    assert param.name is not None
    source = ctx.get_parameter_source(param.name)
    if source is ParameterSource.DEFAULT_MAP:
        return file_defaults.label(path)
    if source is ParameterSource.ENVIRONMENT:
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or ())
        return "env " + next((n for n in names if os.environ.get(n)), names[0])
    return "default"


def describe(command: click.Command, path: tuple[str, ...], parent: click.Context,
             file_defaults: FileDefaults) -> list[str]:
    """Lines for ``command`` and its subcommands."""
    ctx = command.make_context(path[-1], [], parent=parent, resilient_parsing=True)
    rows = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden or param.name is None:
            continue
        if param.is_eager and param.expose_value is False:
            continue  # --help, --version
        rows.append((f"--{option_name(param)}", shown_value(param, ctx.params.get(param.name)),
                     source_of(ctx, param, file_defaults, path)))
    lines = [f"fleetload {' '.join(path)}"]
    if rows:
        width = max(len(r[0]) for r in rows)
        value_width = max(len(r[1]) for r in rows)
        lines += [f"  {flag:<{width}}  {value:<{value_width}}  ({source})"
                  for flag, value, source in rows]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            lines += describe(sub, (*path, name), ctx, file_defaults)
    return lines


@click.group("config")
def config_cmd() -> None:
    """Inspect the configuration: fleetload.toml, FLEETLOAD_* variables, defaults."""


@config_cmd.command("show")
@click.argument("command", required=False)
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, command: str | None) -> None:
    """Print each option of COMMAND (default: every command) with its effective
    value and where it comes from; secrets are masked."""
    root = ctx.find_root()
    group = root.command
    assert isinstance(group, click.Group)
    file_defaults: FileDefaults = root.meta.get(FILE_DEFAULTS_KEY, FileDefaults())
    names = [command] if command else group.list_commands(root)
    blocks = []
    for name in names:
        try:
            found = group.get_command(root, name)
        except ModuleNotFoundError:
            continue  # a command whose optional extra is not installed
        if found is None:
            raise click.BadParameter(f"no such command {name!r}", param_hint="COMMAND")
        blocks.append("\n".join(describe(found, (name,), root, file_defaults)))
    click.echo("\n\n".join(blocks))
