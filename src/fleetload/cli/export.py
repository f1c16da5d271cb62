"""``fleetload export``: a finished run's per-second numbers as tidy rows."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TextIO

import click

from fleetload.outputs.run_export import export_rows
from fleetload.outputs.tidy import COLUMNS, as_record, csv_cells
from fleetload.results.store import resolve_run

from .errors import handle_errors


def write_rows(run_dir: Path, fmt: str, out: TextIO) -> int:
    """Write RUN's rows to ``out``; returns how many."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in export_rows(run_dir):
            writer.writerow(csv_cells(r))
            n += 1
    else:
        for r in export_rows(run_dir):
            out.write(json.dumps(as_record(r), separators=(",", ":")) + "\n")
            n += 1
    return n


@click.command("export")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), default="csv",
              show_default=True, help="CSV with a header line, or one JSON object a line.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="Where to look RUN up when it is a run id.")
@handle_errors
def export_cmd(run: str, fmt: str, output: Path | None, results_dir: Path) -> None:
    """Export RUN (a run id, unique prefix or run directory) as tidy rows:
    time, scenario, metric, stat, value, one number a row, every second of
    the run (the rows `--output csv=FILE` writes live; see docs/outputs.md).
    """
    run_dir = resolve_run(run, results_dir)
    if output is None:
        write_rows(run_dir, fmt, sys.stdout)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as f:
        n = write_rows(run_dir, fmt, f)
    click.echo(f"export: {n} rows to {output}", err=True)
