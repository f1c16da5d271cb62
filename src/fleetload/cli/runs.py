"""``fleetload runs``: list the runs of a results folder, show one again."""

from __future__ import annotations

from pathlib import Path

import click

from fleetload.durations import format_duration
from fleetload.results import rundir
from fleetload.results.store import RunNotFound, list_runs, resolve_run

from .errors import handle_errors

_SOURCE_WIDTH = 48

results_dir_option = click.option(
    "--results-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Folder holding run directories (default: results).")


_METHODS = ("GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "HEAD ", "OPTIONS ")


def short_source(text: str, width: int) -> str:
    """A run's source in ``width`` characters, cut from the left so the script's
    file name (or the URL's path) stays: ``…/packs/agent_storm.py``. A
    one-liner keeps its method: ``GET …/api/v1/items``."""
    if len(text) <= width:
        return text
    head = next((m for m in _METHODS if text.startswith(m)), "")
    room = width - len(head) - 1
    tail = text[len(text) - room:] if room > 0 else ""
    cut = tail.find("/")
    if 0 < cut < len(tail) - 1:
        tail = tail[cut:]  # start at a folder boundary
    return head + "…" + tail


@click.group("runs", invoke_without_command=True)
@results_dir_option
@click.pass_context
@handle_errors
def runs_cmd(ctx: click.Context, results_dir: Path | None) -> None:
    """List the runs in a results folder, newest first.

    Reads only each run's meta.json and summary.json. A run without a
    summary.json is still going, or was killed: its verdict is 'incomplete'.
    """
    ctx.ensure_object(dict)
    ctx.obj["results_dir"] = results_dir
    if ctx.invoked_subcommand is not None:
        return
    root = results_dir or Path("results")
    runs = list_runs(root)
    if not runs:
        click.echo(f"no runs in {root}", err=True)
        return
    click.echo(f"{'run id':<22} {'started (UTC)':<19} {'duration':>9}  {'verdict':<11} "
               f"{'exit':>4}  source")
    for r in runs:
        started = r.started_at.replace("T", " ")[:19]
        duration = format_duration(r.duration_s) if r.duration_s is not None else "-"
        code = str(r.exit_code) if r.exit_code is not None else "-"
        click.echo(f"{r.run_id:<22} {started:<19} {duration:>9}  {r.verdict:<11} {code:>4}  "
                   f"{short_source(r.source, _SOURCE_WIDTH)}")


@runs_cmd.command("show")
@click.argument("run")
@results_dir_option
@click.pass_context
@handle_errors
def show_cmd(ctx: click.Context, run: str, results_dir: Path | None) -> None:
    """Print a run's summary again. RUN is a run id, a unique prefix of one, or
    the path of a run directory."""
    root = results_dir or (ctx.obj or {}).get("results_dir") or Path("results")
    path = resolve_run(run, root)
    text_file = path / rundir.SUMMARY_TXT
    if not text_file.is_file():
        raise RunNotFound(f"{path} has no {rundir.SUMMARY_TXT}: the run did not finish")
    click.echo(text_file.read_text(encoding="utf-8"), nl=False)
