"""``fleetload report``: one self-contained HTML file for a run."""

from __future__ import annotations

from pathlib import Path

import click

from fleetload.report.html import write_report
from fleetload.results.store import resolve_run

from .errors import handle_errors


@click.command("report")
@click.argument("run")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default: RUN_DIR/report.html).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="Where to look RUN up when it is a run id.")
@handle_errors
def report_cmd(run: str, output: Path | None, results_dir: Path) -> None:
    """Write an HTML report of RUN (a run id, unique prefix or run directory).

    The file is self-contained (scripts and styles inlined, no network): latency
    percentiles, throughput, failures, VUs and dropped iterations over time per
    scenario, server-side observations when recorded, thresholds, the
    per-scenario table and the methodology.
    """
    path = write_report(resolve_run(run, results_dir), output)
    click.echo(f"report: {path}")
