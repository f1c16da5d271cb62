"""``fleetload report``: one self-contained HTML file for a run."""

from __future__ import annotations

from pathlib import Path

import click

from fleetload.errors import ConfigError
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
@click.option("--serve", is_flag=False, flag_value="127.0.0.1:5665", default=None,
              metavar="[HOST:PORT]",
              help="Show RUN in the live dashboard's page instead (default 127.0.0.1:5665), "
                   "until Ctrl-C.")
@handle_errors
def report_cmd(run: str, output: Path | None, results_dir: Path, serve: str | None) -> None:
    """Write an HTML report of RUN (a run id, unique prefix or run directory).

    The file is self-contained (scripts and styles inlined, no network): latency
    percentiles, throughput, failures, VUs and dropped iterations over time per
    scenario, server-side observations when recorded, thresholds, the
    per-scenario table and the methodology.
    """
    run_dir = resolve_run(run, results_dir)
    if serve is not None:
        host, sep, port = serve.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--serve {serve!r}: expected HOST:PORT, e.g. 127.0.0.1:5665")
        from fleetload.outputs.dashboard_replay import serve_run

        serve_run(run_dir, host.strip("[]") or "127.0.0.1", int(port))
        return
    path = write_report(run_dir, output)
    click.echo(f"report: {path}")
