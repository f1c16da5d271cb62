"""``fleetload demo``: the first run — reference target, seed, mixed load, summary."""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

import click

from fleetload.durations import parse_duration
from fleetload.engine.loop import run_async
from fleetload.errors import FleetloadError
from fleetload.run import RunConfig, run_test
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe

from .errors import handle_errors

DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "demo" / "mixed.py"


@click.command("demo")
@click.option("--duration", default="60s", show_default=True, help="Length of the mixed load.")
@click.option("--agents", default=5000, show_default=True, help="Agents to seed and heartbeat.")
@click.option("--certs", default=10000, show_default=True, help="Certificates to seed.")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True)
@click.option("--stats-interval", default="5s", show_default=True)
@handle_errors
def demo_cmd(duration: str, agents: int, certs: int, results_dir: Path, stats_interval: str) -> None:
    """Start the reference target on free loopback ports (SQLite), seed it, run a
    mixed load (agents heartbeating, certificates created and listed, a bulk
    renewal) with live progress, print the summary, and stop the target."""
    from fleetplane.launch import TargetStartError, start_target
    from fleetplane.seed import seed_database

    seconds = parse_duration(duration, what="--duration")
    db_dir = Path(tempfile.mkdtemp(prefix="fleetload-demo-"))
    db_url = f"sqlite:///{db_dir / 'fleetplane.db'}"
    admin_key = secrets.token_urlsafe(16)
    click.echo(f"[1/4] starting the reference target (SQLite at {db_dir})...", err=True)
    try:
        target = start_target(db_url, admin_key=admin_key)
    except TargetStartError as exc:
        raise FleetloadError(f"the reference target did not start: {exc}") from None
    try:
        click.echo(f"      target: {target.url} (gRPC {target.grpc_target})", err=True)
        click.echo(f"[2/4] seeding {certs:,} certificates and {agents:,} agents...", err=True)
        started = time.monotonic()
        result = seed_database(db_url, certs=certs, agents=agents)
        click.echo(f"      {result.summary()} in {time.monotonic() - started:.1f}s", err=True)
        click.echo(f"[3/4] running the mixed load for {seconds:g}s...", err=True)
        overrides = Overrides(duration=seconds, target=target.url, token=target.api_key,
                              params={"agents": str(agents)})
        cfg = RunConfig(results_root=results_dir,
                        stats_interval=parse_duration(stats_interval, what="--stats-interval"),
                        argv=["demo", "--duration", duration])
        outcome = run_async(run_test(PlanRecipe(overrides, script=str(DEMO_SCRIPT)), cfg))
    finally:
        click.echo("[4/4] stopping the target.", err=True)
        target.stop()
    click.echo(outcome.text, nl=False)
    click.echo(f"\nNext: open the numbers in {outcome.run_dir}/summary.json, or write your own "
               "script (docs/scripting.md).")
    sys.exit(outcome.exit_code)
