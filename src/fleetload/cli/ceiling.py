"""``fleetload ceiling``: how far does it go, and what stops it?"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from fleetload.cluster.options import from_flags as cluster_from_flags
from fleetload.durations import parse_duration
from fleetload.engine.executors import RampingArrivalRate
from fleetload.engine.loop import run_async
from fleetload.engine.plan import Scenario
from fleetload.errors import ConfigError, ExitCode
from fleetload.redact import redact_argv
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe
from fleetload.script.schedule_flags import rate_shares

from .config_precedence import build_with_file_defaults
from .errors import handle_errors
from .run import check_exclusive, parse_env, parse_params, resolve_script
from .script_help import ScriptCommand


def stepped_scenarios_note(scenarios: Sequence[Scenario], script: str) -> list[str]:
    """The constant-arrival-rate scenarios are stepped; a script with none is
    an error, and the scenarios not stepped are named in a note."""
    stepped = [s for s in scenarios if "rate" in s.executor.overridable()]
    others = [s for s in scenarios if s not in stepped]
    listing = ", ".join(f"{s.name} ({s.executor.kind})" for s in others)
    if not stepped:
        ramping = [s.name for s in others if isinstance(s.executor, RampingArrivalRate)]
        why = (f"{', '.join(ramping)} is ramping-arrival-rate, whose rate follows its stages"
               if ramping else f"its scenarios are {listing}")
        raise ConfigError(f"{script}: the ceiling steps the rate of constant-arrival-rate "
                          f"scenarios and {why}; give it a ConstantArrivalRate scenario")
    notes = []
    if len(stepped) > 1:
        shares = rate_shares(stepped, 100.0)
        split = ", ".join(f"{name} {share:.3g}%" for name, share in shares.items())
        notes.append(f"note: each step's rate is the total of {len(stepped)} constant-arrival-rate "
                     f"scenarios, split as in the script: {split}")
    if others:
        notes.append(f"note: the ceiling steps {', '.join(s.name for s in stepped)}; {listing} "
                     "run as written in every step")
    return notes


@click.command("ceiling", cls=ScriptCommand,
               context_settings={"show_default": True, "ignore_unknown_options": True,
                                 "allow_extra_args": True})
@click.argument("script")
@click.option("--slo", "slos", multiple=True, required=True,
              help="SLO every step must meet (repeatable): 'p(99)<1000' (http_req_duration) "
                   "or 'METRIC[{tag:value}]:EXPR', e.g. 'http_req_failed:rate<0.01'.")
@click.option("--from", "from_rate", type=float, default=10.0,
              help="First rate, in iterations/s whatever the script's time_unit.")
@click.option("--to", "to_rate", type=float, default=10000.0,
              help="Highest rate to try (iterations/s).")
@click.option("--factor", type=float, default=2.0, help="Geometric step factor.")
@click.option("--precision", type=float, default=0.10,
              help="Bisect until the bad rate is within this fraction of the good one.")
@click.option("--max-steps", type=int, default=20, help="Step budget for the whole search.")
@click.option("--step-duration", default="30s", help="Measured window of each step.")
@click.option("--warmup", default="10s", help="Warm-up before each step's window (not judged).")
@click.option("--target", help="Base URL of the target (overrides the script's).")
@click.option("--token", help="Bearer token (never written to results).")
@click.option("--insecure", is_flag=True, default=None, help="Skip TLS certificate verification.")
@click.option("--ca-cert", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="Trust this CA (PEM) for TLS.")
@click.option("--client-cert", type=click.Path(dir_okay=False),
              help="Present this client certificate (PEM) to servers asking for one; "
                   "with --client-key.")
@click.option("--client-key", type=click.Path(dir_okay=False),
              help="The private key (PEM) of --client-cert.")
@click.option("-e", "--env", "env_pairs", multiple=True, help="Script variable KEY=VALUE.")
@click.option("--max-in-flight", type=int,
              help="Cap on concurrent iterations of the arrival-rate scenarios [default: the "
                   "script's, else one second of arrivals, at least 100].")
@click.option("--workers", type=int, default=1,
              help="Generator worker processes (per node with --cluster).")
@click.option("--cluster", metavar="ADDRESS",
              help="Run every step on a Ray cluster: ray://HOST:10001 (Ray client) or auto (on "
                   "a cluster node). See docs/distributed.md.")
@click.option("--nodes", type=int, help="Cluster nodes to use.  [default: every alive node]")
@click.option("--lease", help="A node not polled for this long stops by itself.  [default: 5s]")
@click.option("--on-node-loss", type=click.Choice(["abort", "continue"]),
              help="A lost node stops its step at once or lets the others finish it; either "
                   "way the ceiling stops there (exit 4).  [default: abort]")
@click.option("--observe", "observe", multiple=True, metavar="KIND=WHAT",
              help="Observe the server side during every step (repeatable): "
                   "prometheus=URL[#metric,...], postgres=URL, process=PID|NAME.")
@click.option("--health-url",
              help="Cooldown gate URL; must answer 2xx before the first step [default: the "
                   "first of <target>/healthz, /health, /readyz, /ready, /livez to answer 2xx].")
@click.option("--no-cooldown", is_flag=True, help="Start each step at once (no health gate).")
@click.option("--cooldown-max", default="120s", help="Longest wait for the target to recover.")
@click.option("--cooldown-factor", type=float, default=1.5,
              help="Recovered when probe latency <= baseline x this ...")
@click.option("--cooldown-slack", default="5ms", help="... or <= baseline + this, whichever is looser.")
@click.option("--generator-cpu", type=float, default=90.0,
              help="A step whose busiest generator process used this %% of a core is generator-bound.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory [default: RESULTS_DIR/ceiling-<time>].")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), help="Where the output directory goes.")
@click.option("--json", "as_json", is_flag=True, help="Print ceiling.json instead of the text.")
@click.pass_context
@handle_errors
def ceiling_cmd(ctx: click.Context, script: str, slos: tuple[str, ...], from_rate: float,
                to_rate: float, factor: float, precision: float, max_steps: int,
                step_duration: str, warmup: str, target: str | None, token: str | None,
                insecure: bool | None, ca_file: str | None, client_cert: str | None,
                client_key: str | None, env_pairs: tuple[str, ...],
                max_in_flight: int | None, workers: int, observe: tuple[str, ...], health_url: str | None,
                no_cooldown: bool, cooldown_max: str, cooldown_factor: float,
                cooldown_slack: str, generator_cpu: float, out: Path | None, results_dir: Path,
                as_json: bool, cluster: str | None, nodes: int | None, lease: str | None,
                on_node_loss: str | None) -> None:
    """Find the highest open-loop rate at which SCRIPT (a file or pack) meets every --slo.

    The script's constant-arrival-rate scenarios are stepped geometrically from
    --from (x --factor) until an SLO breaks or --to holds, then bisected. Every
    rate is in iterations per second, whatever the script's time_unit. Each
    step is a warm-up and a measured window; between steps the target must be
    healthy again. Options not listed here are the script's own parameters.

    With --cluster every step runs on the nodes of a Ray cluster (one
    connection for the whole search); a node lost during a step ends the
    search there, the ceiling standing on the steps measured before it.

    Exit codes: 0 a ceiling (or a lower bound) was found, 99 the first step
    already broke an SLO, 4 a cluster node was lost (the ceiling is that of
    the steps before), 2 invalid input or unreachable target, 1 internal error.
    """
    from fleetload.capacity.ceiling import BREAKS_AT_FROM, NODE_LOST, SearchSettings
    from fleetload.capacity.health import HealthGate, choose_health_url, probe_options
    from fleetload.capacity.observe import build_observers
    from fleetload.capacity.session import dumps, render_text, run_ceiling
    from fleetload.capacity.slo import parse_slo
    from fleetload.capacity.steps import StepSettings
    from fleetload.run.preflight import preflight

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if max_in_flight is not None and max_in_flight < 1:
        raise ConfigError(f"--max-in-flight must be at least 1, got {max_in_flight}")
    check_exclusive(ctx, (
        ("out", "results_dir", "--out names the output directory itself"),
        ("insecure", "ca_file", "--insecure skips certificate verification altogether"),
        *((("no_cooldown", name, "--no-cooldown turns the health gate off"))
          for name in ("health_url", "cooldown_max", "cooldown_factor", "cooldown_slack")),
    ))
    window = parse_duration(step_duration, what="--step-duration")
    warm = parse_duration(warmup, what="--warmup")
    if window < 1:
        raise ConfigError("--step-duration must be at least 1s")
    cluster_options = cluster_from_flags(cluster, nodes, lease, on_node_loss)
    search = SearchSettings(from_rate, to_rate, factor, precision, max_steps)
    search.validate()
    parsed_slos = tuple(parse_slo(s) for s in slos)
    build_observers(observe)  # validate the specs now (exit 2), before any step
    params = parse_params(list(ctx.args))
    for name, why in (("rate", "the ceiling sets each step's rate (--from, --to)"),
                      ("duration", "a step lasts --warmup + --step-duration")):
        if name in params:
            raise ConfigError(f"--{name} is not a ceiling option: {why}")
    # The step rate is set per step (run_step); built here without it, so a
    # script error or a script the ceiling cannot step is exit 2 at once.
    overrides = Overrides(target=target, token=token, insecure=insecure, ca_file=ca_file,
                          client_cert=client_cert, client_key=client_key, env=parse_env(env_pairs), params=params, max_in_flight=max_in_flight,
                          duration=warm + window)
    path = resolve_script(script)
    built = build_with_file_defaults(ctx, overrides, lambda o: PlanRecipe(o, script=path),
                                     script=True)
    recipe, plan = built.recipe, built.plan
    plan.client.check_client_identity()
    for note in [*plan.notes, *built.notes, *stepped_scenarios_note(plan.scenarios, script)]:
        click.echo(note, err=True)
    # An unreachable target (or one refusing the TLS handshake) is one line
    # naming why before the health gate probes it.
    run_async(preflight(plan.client, plan.client.target))
    gate = None
    if not no_cooldown:
        opts = probe_options(insecure=bool(plan.client.insecure), ca_file=plan.client.ca_file,
                             client_cert=plan.client.client_cert,
                             client_key=plan.client.client_key)
        choice = run_async(choose_health_url(health_url, plan.client.target, opts))
        click.echo(choice.line(), err=True)
        gate = HealthGate(choice.url, factor=cooldown_factor,
                          slack_ms=parse_duration(cooldown_slack, what="--cooldown-slack") * 1000,
                          max_wait=parse_duration(cooldown_max, what="--cooldown-max"),
                          insecure=bool(plan.client.insecure), ca_file=plan.client.ca_file,
                          client_cert=plan.client.client_cert,
                          client_key=plan.client.client_key, choice=choice)
    out_dir = out or results_dir / time.strftime("ceiling-%Y%m%d-%H%M%S")
    steps = StepSettings(recipe=recipe, slos=parsed_slos, warmup=warm, window=window,
                         out_dir=out_dir, workers=workers, observe=observe,
                         generator_cpu_limit=generator_cpu, cluster=cluster_options)
    outcome = run_async(run_ceiling(search, steps, gate, script=script,
                                    argv=redact_argv(sys.argv[1:])))
    click.echo(dumps(outcome.report) if as_json else render_text(outcome), nl=not as_json)
    codes = {BREAKS_AT_FROM: ExitCode.THRESHOLDS_FAILED, NODE_LOST: ExitCode.NODE_LOST}
    sys.exit(int(codes.get(outcome.result.status, ExitCode.OK)))
