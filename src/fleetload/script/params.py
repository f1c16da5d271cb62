"""Script parameters: named values a script (or pack) takes from the command line.

    DIRECTORY = param("directory", str, required=True, help="ACME directory URL")
    AGENTS = param("agents", int, default=5000)
    INTERVAL = param("heartbeat_interval", Duration, default="30s")
    ENDPOINTS = param("endpoint", list)  # repeatable: --endpoint a --endpoint b

``fleetload run pack --directory URL --agents 100 --heartbeat-interval 10s``
sets them (dashes become underscores). The run's own flags (``--rate``,
``--duration``, ``--vus``, ``--target``, ``--token``) are readable as params too.
A flag the script does not declare is an error, so a typo never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from fleetload.durations import parse_duration
from fleetload.errors import ConfigError
from fleetload.script.context import LoadContext, current_load

T = TypeVar("T")



class Duration:
    """Type marker: a duration string such as ``30s`` or ``5m``, read as seconds."""


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type_name: str
    default: Any
    required: bool
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _convert(name: str, raw: Any, kind: Any) -> Any:
    flag = "--" + name.replace("_", "-")
    if kind is list:
        # Repeatable flags: ``--endpoint a=1 --endpoint b=2`` -> ["a=1", "b=2"].
        return [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]
    if isinstance(raw, list):
        raise ConfigError(f"{flag} given more than once")
    if kind is Duration:
        return parse_duration(raw, what=flag)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{flag}: expected true or false, got {raw!r}")
    if kind in (int, float):
        try:
            return kind(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{flag}: expected {'a whole number' if kind is int else 'a number'}, "
                              f"got {raw!r}") from None
    if callable(kind) and kind is not str:
        try:
            return kind(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{flag}: {exc}") from None
    return str(raw)


@overload
def param(name: str, kind: type[Duration], *, default: Any = ..., required: bool = ...,
          help: str = ...) -> float: ...
@overload
def param(name: str, kind: type[T] | Callable[[Any], T], *, default: Any = ...,
          required: bool = ..., help: str = ...) -> T: ...
@overload
def param(name: str, *, default: Any = ..., required: bool = ..., help: str = ...) -> str: ...


def param(name: str, kind: Any = str, *, default: Any = None, required: bool = False,
          help: str = "") -> Any:
    """Declare a parameter and return its value (converted to ``kind``)."""
    key = name.replace("-", "_")
    load = current_load()
    load.params[key] = ParamInfo(key, getattr(kind, "__name__", str(kind)), default, required,
                                 help)
    if load.values.get(key) is not None:
        return _convert(key, load.values[key], kind)
    if required and load.listing:
        return _PLACEHOLDERS.get(kind, "")
    if required:
        raise ConfigError(f"--{key.replace('_', '-')} is required" + (f" ({help})" if help else ""))
    return None if default is None else _convert(key, default, kind)


_PLACEHOLDERS: dict[Any, Any] = {int: 1, float: 1.0, Duration: 1.0, bool: False, list: []}
_METAVARS = {"int": "INT", "float": "NUMBER", "Duration": "DURATION", "bool": "",
             "list": "VALUE (repeatable)", "str": "TEXT"}


def help_rows(params: list[ParamInfo], run_flags: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(flag METAVAR, help [default])`` rows for a help listing."""
    rows = []
    for p in params:
        metavar = _METAVARS.get(p.type_name, p.type_name.upper())
        text = p.help
        if p.name in run_flags:
            text = (text + " " if text else "") + "(also the run's own flag)"
        if p.required:
            text += "  [required]"
        elif p.default is not None and p.default is not False and p.default not in ("", []):
            text += f"  [default: {p.default}]"
        rows.append((f"{p.flag} {metavar}".rstrip(), text.strip()))
    return rows


def check_unknown(script: str, load: LoadContext) -> None:
    unknown = sorted(load.extra - set(load.params))
    if unknown:
        known = ", ".join(p.flag for p in load.params.values()) or "none"
        raise ConfigError(f"unknown option(s) {', '.join('--' + u.replace('_', '-') for u in unknown)} "
                          f"for {script} (its parameters: {known})")
