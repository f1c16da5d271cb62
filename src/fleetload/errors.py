"""Errors that end a run with a documented exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, k6-compatible where k6 defines one."""

    OK = 0
    INTERNAL = 1
    INVALID_INPUT = 2
    INCONCLUSIVE = 3
    NODE_LOST = 4
    """A cluster node was lost during the run (``--cluster``): inconclusive."""
    INTERRUPTED = 130
    THRESHOLDS_FAILED = 99


class FleetloadError(Exception):
    """A problem the user can fix: bad script, option, file or unreachable target.

    The CLI prints the message on one line and exits with ``exit_code``.
    """

    exit_code: ExitCode = ExitCode.INVALID_INPUT

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ScriptError(FleetloadError):
    """The load script cannot be loaded or declares something invalid."""


class ConfigError(FleetloadError):
    """An option, duration, executor or threshold is invalid."""


class TargetUnreachable(FleetloadError):
    """The target refused or timed out on the pre-flight probe."""
