"""``fleetload ceiling``: how far does it go, and what stops it?"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from fleetload.durations import parse_duration
from fleetload.engine.loop import run_async
from fleetload.errors import ConfigError, ExitCode
from fleetload.redact import redact_argv
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe

from .errors import handle_errors
from .run import parse_env, parse_params, resolve_script


@click.command("ceiling", context_settings={"show_default": True, "ignore_unknown_options": True,
                                            "allow_extra_args": True})
@click.argument("script")
@click.option("--slo", "slos", multiple=True, required=True,
              help="SLO every step must meet (repeatable): 'p(99)<1000' (http_req_duration) "
                   "or 'METRIC[{tag:value}]:EXPR', e.g. 'http_req_failed:rate<0.01'.")
@click.option("--from", "from_rate", type=float, default=10.0, help="First rate (iterations/s).")
@click.option("--to", "to_rate", type=float, default=10000.0, help="Highest rate to try.")
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
@click.option("-e", "--env", "env_pairs", multiple=True, help="Script variable KEY=VALUE.")
@click.option("--workers", type=int, default=1, help="Generator worker processes.")
@click.option("--observe", "observe", multiple=True, metavar="KIND=WHAT",
              help="Observe the server side during every step (repeatable): "
                   "prometheus=URL[#metric,...], postgres=URL, process=PID|NAME.")
@click.option("--health-url", help="Cooldown gate URL [default: <target>/healthz].")
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
                insecure: bool | None, ca_file: str | None, env_pairs: tuple[str, ...],
                workers: int, observe: tuple[str, ...], health_url: str | None,
                no_cooldown: bool, cooldown_max: str, cooldown_factor: float,
                cooldown_slack: str, generator_cpu: float, out: Path | None, results_dir: Path,
                as_json: bool) -> None:
    """Find the highest open-loop rate at which SCRIPT (a file or pack) meets every --slo.

    The script's arrival-rate scenarios are stepped geometrically from --from
    (x --factor) until an SLO breaks or --to holds, then bisected. Each step is
    a warm-up and a measured window; between steps the target must be healthy
    again. Options not listed here are the script's own parameters.

    Exit codes: 0 a ceiling (or a lower bound) was found, 99 the first step
    already broke an SLO, 2 invalid input or unreachable target, 1 internal error.
    """
    from fleetload.capacity.ceiling import BREAKS_AT_FROM, SearchSettings
    from fleetload.capacity.health import HealthGate
    from fleetload.capacity.observe import build_observers
    from fleetload.capacity.session import dumps, render_text, run_ceiling
    from fleetload.capacity.slo import parse_slo
    from fleetload.capacity.steps import StepSettings

    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    window = parse_duration(step_duration, what="--step-duration")
    warm = parse_duration(warmup, what="--warmup")
    if window < 1:
        raise ConfigError("--step-duration must be at least 1s")
    search = SearchSettings(from_rate, to_rate, factor, precision, max_steps)
    search.validate()
    parsed_slos = tuple(parse_slo(s) for s in slos)
    build_observers(observe)  # validate the specs now (exit 2), before any step
    overrides = Overrides(target=target, token=token, insecure=insecure, ca_file=ca_file,
                          env=parse_env(env_pairs), params=parse_params(list(ctx.args)),
                          rate=from_rate, duration=warm + window)
    recipe = PlanRecipe(overrides, script=resolve_script(script))
    plan = recipe.build()  # a script error is reported before the first step
    if not any(s.executor.kind == "constant-arrival-rate" for s in plan.scenarios):
        raise ConfigError(f"{script}: ceiling needs a constant-arrival-rate scenario "
                          "(the open-loop rate is what it steps)")
    base_url = plan.client.target
    gate = None
    if not no_cooldown:
        url = health_url or (base_url.rstrip("/") + "/healthz" if base_url else None)
        if url is None:
            raise ConfigError("no target known for the cooldown gate: give --target, "
                              "--health-url or --no-cooldown")
        gate = HealthGate(url, factor=cooldown_factor,
                          slack_ms=parse_duration(cooldown_slack, what="--cooldown-slack") * 1000,
                          max_wait=parse_duration(cooldown_max, what="--cooldown-max"),
                          insecure=bool(plan.client.insecure), ca_file=plan.client.ca_file)
    out_dir = out or results_dir / time.strftime("ceiling-%Y%m%d-%H%M%S")
    steps = StepSettings(recipe=recipe, slos=parsed_slos, warmup=warm, window=window,
                         out_dir=out_dir, workers=workers, observe=observe,
                         generator_cpu_limit=generator_cpu)
    outcome = run_async(run_ceiling(search, steps, gate, script=script,
                                    argv=redact_argv(sys.argv[1:])))
    click.echo(dumps(outcome.report) if as_json else render_text(outcome), nl=not as_json)
    sys.exit(int(ExitCode.THRESHOLDS_FAILED) if outcome.result.status == BREAKS_AT_FROM else 0)
