"""The ``fleetload`` command."""

from __future__ import annotations

import click

from fleetload._version import __version__
from fleetload.cli.demo import demo_cmd
from fleetload.cli.run import run_cmd
from fleetplane import cli as fleetplane_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="fleetload")
def cli() -> None:
    """Load testing and capacity planning for fleet control planes."""


cli.add_command(run_cmd)
cli.add_command(demo_cmd)
cli.add_command(fleetplane_cli.target)
cli.add_command(fleetplane_cli.seed)


def main() -> None:
    cli(prog_name="fleetload")
