"""``fleetload baseline record|publish``: keep a run as a named reference."""

from __future__ import annotations

from pathlib import Path

import click

from fleetload.baseline.data import load_run
from fleetload.baseline.publish import publish_file
from fleetload.baseline.record import DEFAULT_STORE, baseline_dir, record_baseline
from fleetload.results.store import resolve_run

from .errors import handle_errors

store_option = click.option(
    "--store", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STORE,
    show_default=True, help="Folder of named baselines.")


@click.group("baseline")
def baseline_cmd() -> None:
    """Named reference runs: record one, publish its numbers into a document."""


@baseline_cmd.command("record")
@click.argument("run")
@click.option("--name", required=True, help="Baseline name, e.g. 'main' or 'v1.4'.")
@store_option
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="Where to look RUN up when it is a run id.")
@click.option("--force", is_flag=True, help="Replace an existing baseline of that name.")
@click.option("--allow-inconclusive", is_flag=True,
              help="Record a run whose verdict is inconclusive (it did not deliver its load).")
@handle_errors
def record_cmd(run: str, name: str, store: Path, results_dir: Path, force: bool,
               allow_inconclusive: bool) -> None:
    """Store RUN (a run id, unique prefix or run directory) as baseline NAME.

    Copies summary.json, meta.json, intervals.hlog and timeline.jsonl (and
    summary.txt, observations.jsonl when present). Exit 2 when the baseline
    exists (without --force), RUN is not a finished run, or RUN is inconclusive
    (without --allow-inconclusive).
    """
    dest = record_baseline(resolve_run(run, results_dir), name, store, force=force,
                           allow_inconclusive=allow_inconclusive)
    click.echo(f"baseline {name!r} recorded in {dest}")


@baseline_cmd.command("publish")
@click.argument("name")
@click.option("--doc", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Markdown document holding the markers.")
@store_option
@handle_errors
def publish_cmd(name: str, doc: Path, store: Path) -> None:
    """Write baseline NAME's table into DOC between
    '<!-- fleetload:baseline NAME -->' and '<!-- /fleetload:baseline -->'.

    Everything outside the markers is left byte for byte as it was; publishing
    again without a new baseline changes nothing. Exit 2 when the markers are
    missing.
    """
    changed = publish_file(doc, name, load_run(baseline_dir(name, store)))
    click.echo(f"{doc}: {'updated' if changed else 'unchanged'} (baseline {name!r})")
