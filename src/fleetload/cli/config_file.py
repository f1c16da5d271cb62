"""Per-command defaults from ``./fleetload.toml`` (or ``[tool.fleetload]`` in
``./pyproject.toml``), checked against the commands' options and handed to
click as its ``default_map``; and ``FLEETLOAD_<OPTION>`` variables."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from fleetload.errors import ConfigError

CONFIG_FILE = "fleetload.toml"
PYPROJECT = "pyproject.toml"
ENV_PREFIX = "FLEETLOAD_"

Lookup = Callable[[str], "click.Command | None"]


@dataclass(frozen=True)
class FileDefaults:
    """The configuration file's values, as click's ``default_map``."""

    path: Path | None = None
    section_prefix: str = ""
    """``""`` for fleetload.toml, ``"tool.fleetload."`` for pyproject.toml."""
    default_map: dict[str, Any] = field(default_factory=dict)

    def label(self, command_path: tuple[str, ...]) -> str:
        """Where a value came from: ``fleetload.toml [run]``."""
        name = self.path.name if self.path else CONFIG_FILE
        return f"{name} [{self.section_prefix}{'.'.join(command_path)}]"


def option_name(param: click.Parameter) -> str:
    """The option's long name without dashes: ``--ca-cert`` -> ``ca-cert``."""
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return (longs[0] if longs else param.opts[0]).lstrip("-")


def env_name(param: click.Parameter) -> str:
    return ENV_PREFIX + option_name(param).upper().replace("-", "_")


def add_envvars(command: click.Command) -> click.Command:
    """Every option of ``command`` (and of its subcommands) answers to
    ``FLEETLOAD_<OPTION>``; an option that had another variable keeps it too."""
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        ours = env_name(param)
        existing = param.envvar
        if not existing:
            param.envvar = ours
        elif isinstance(existing, str) and existing != ours:
            param.envvar = [ours, existing]
        elif not isinstance(existing, str) and ours not in existing:
            param.envvar = [ours, *existing]
        param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_envvars(sub)
    return command


def find_config(cwd: Path) -> tuple[Path, str, Mapping[str, Any]] | None:
    """The file, its section prefix and its table of command sections."""
    own = cwd / CONFIG_FILE
    if own.is_file():
        return own, "", _read(own)
    project = cwd / PYPROJECT
    if project.is_file():
        tool = _read(project).get("tool", {})
        section = tool.get("fleetload") if isinstance(tool, Mapping) else None
        if isinstance(section, Mapping):
            return project, "tool.fleetload.", section
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc.strerror}") from None


def load_file_defaults(cwd: Path, lookup: Lookup) -> FileDefaults:
    """Read and check the configuration file in ``cwd`` (none: no defaults).
    ``lookup`` maps a top-level command name to the command."""
    found = find_config(cwd)
    if found is None:
        return FileDefaults()
    path, prefix, table = found
    defaults = FileDefaults(path, prefix)
    for section, values in table.items():
        command = lookup(section)
        if command is None:
            raise ConfigError(f"{path.name}: section [{prefix}{section}] is not a fleetload "
                              f"command")
        defaults.default_map[section] = _command_map(defaults, (section,), command, values)
    return defaults


def _command_map(defaults: FileDefaults, where: tuple[str, ...], command: click.Command,
                 values: Any) -> dict[str, Any]:
    label = defaults.label(where)
    if not isinstance(values, Mapping):
        raise ConfigError(f"{label}: expected a table of option = value")
    by_key: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            for opt in param.opts:
                if opt.startswith("--"):
                    by_key[opt[2:].replace("_", "-")] = param
    subcommands = command.commands if isinstance(command, click.Group) else {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in subcommands and isinstance(value, Mapping):
            out[key] = _command_map(defaults, (*where, key), subcommands[key], value)
            continue
        option = by_key.get(key.replace("_", "-"))
        if option is None or option.name is None:
            raise ConfigError(f"{label}: unknown key {key!r}: not an option of "
                              f"'fleetload {' '.join(where)}'")
        if option.name in out:
            raise ConfigError(f"{label}: key {key!r} sets --{option_name(option)} a second time")
        out[option.name] = _as_click_value(option, value, label, key)
        try:
            option.type_cast_value(click.Context(command), out[option.name])
        except click.BadParameter as exc:
            raise ConfigError(f"{label}: key {key!r}: {exc.message}") from None
    return out


def _as_click_value(param: click.Option, value: Any, label: str, key: str) -> Any:
    if isinstance(value, Mapping):
        raise ConfigError(f"{label}: key {key!r}: expected a value, not a table")
    if param.multiple:
        items = value if isinstance(value, list) else [value]
        return [_scalar(item, label, key) for item in items]
    if isinstance(value, list):
        raise ConfigError(f"{label}: key {key!r}: expected one value, not a list "
                          f"(--{option_name(param)} is given once)")
    return _scalar(value, label, key)


def _scalar(value: Any, label: str, key: str) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    raise ConfigError(f"{label}: key {key!r}: expected a string, number or boolean, "
                      f"got {type(value).__name__}")


__all__ = ["CONFIG_FILE", "ENV_PREFIX", "FileDefaults", "add_envvars", "env_name",
           "load_file_defaults", "option_name"]
