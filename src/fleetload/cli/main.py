"""The ``fleetload`` command."""

from __future__ import annotations

import click

from fleetload._version import __version__
from fleetload.cli.baseline import baseline_cmd
from fleetload.cli.ceiling import ceiling_cmd
from fleetload.cli.cleanup import cleanup_cmd
from fleetload.cli.compare import compare_cmd
from fleetload.cli.demo import demo_cmd
from fleetload.cli.init import init_cmd
from fleetload.cli.plan import plan_cmd
from fleetload.cli.report import report_cmd
from fleetload.cli.run import run_cmd
from fleetload.cli.runs import runs_cmd
from fleetplane import cli as fleetplane_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="fleetload")
def cli() -> None:
    """Load testing and capacity planning for fleet control planes."""


cli.add_command(run_cmd)
cli.add_command(demo_cmd)
cli.add_command(ceiling_cmd)
cli.add_command(plan_cmd)
cli.add_command(init_cmd)
cli.add_command(cleanup_cmd)
cli.add_command(fleetplane_cli.target)
cli.add_command(fleetplane_cli.seed)
cli.add_command(runs_cmd)
cli.add_command(report_cmd)
cli.add_command(baseline_cmd)
cli.add_command(compare_cmd)


def main() -> None:
    cli(prog_name="fleetload")
