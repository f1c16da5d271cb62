"""Turning errors into one clear line and a documented exit code."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from fleetload.errors import ExitCode, FleetloadError

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FleetloadError as exc:
            click.echo(f"fleetload: error: {exc}", err=True)
            sys.exit(int(exc.exit_code))
        except FileExistsError as exc:
            click.echo(f"fleetload: error: {exc}", err=True)
            sys.exit(int(ExitCode.INVALID_INPUT))
        except KeyboardInterrupt:
            click.echo("fleetload: interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            click.echo(f"fleetload: internal error: {type(exc).__name__}: {exc}", err=True)
            if os.environ.get("FLEETLOAD_DEBUG"):
                traceback.print_exc()
            else:
                click.echo("  (set FLEETLOAD_DEBUG=1 for the traceback)", err=True)
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]
