"""``fleetload run``: a script, a built-in pack, or a one-liner."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from fleetload.cluster.options import from_flags as cluster_from_flags
from fleetload.durations import parse_duration
from fleetload.engine.loop import run_async
from fleetload.errors import ConfigError
from fleetload.metrics.thresholds import parse_cli_threshold
from fleetload.outputs.registry import build_outputs
from fleetload.redact import redact_argv
from fleetload.results.validity import ValidityRules
from fleetload.run import RunConfig, run_test
from fleetload.script.oneliner import OneLiner, parse_header
from fleetload.script.options import Overrides
from fleetload.script.recipe import PlanRecipe

from .config_precedence import build_with_file_defaults
from .errors import handle_errors
from .script_help import ScriptCommand


def parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"-e {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env


def resolve_script(name: str) -> str:
    """A path to a script, or the name of a built-in pack."""
    path = Path(name)
    if path.exists() or name.endswith(".py") or "/" in name:
        return name
    from fleetload.packs import pack_path

    found = pack_path(name)
    if found is None:
        raise ConfigError(f"script not found: {name} (not a file, and not a built-in pack; "
                          "see 'fleetload init --list')")
    return str(found)


def parse_params(args: list[str]) -> dict[str, str | list[str]]:
    """``--name value``, ``--name=value`` or a bare ``--flag`` (true); a flag
    given several times collects its values in a list."""
    out: dict[str, str | list[str]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(f"unexpected argument {arg!r}")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        key = name.replace("-", "_")
        previous = out.get(key)
        if previous is None:
            out[key] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[key] = [previous, value]
        i += 1
    return out


def explicit(ctx: click.Context, name: str) -> bool:
    """Whether the user gave the option, by flag or environment variable (not
    its default, nor a fleetload.toml value, which is only a default)."""
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                              ParameterSource.ENVIRONMENT)


def on_command_line(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE


def check_exclusive(ctx: click.Context, pairs: tuple[tuple[str, str, str], ...]) -> None:
    """One line, exit 2, for two options of which the second would be ignored.
    A FLEETLOAD_* variable that a flag of this run sets aside is no conflict."""
    for first, second, why in pairs:
        if not (explicit(ctx, first) and explicit(ctx, second)):
            continue
        if on_command_line(ctx, first) and not on_command_line(ctx, second):
            continue
        raise ConfigError(f"{_flag(second)} has no effect with {_flag(first)}: {why}")


def _flag(name: str) -> str:
    return {"ca_file": "--ca-cert", "html_report": "--report"}.get(
        name, "--" + name.replace("_", "-"))


@click.command("run", cls=ScriptCommand,
               context_settings={"show_default": True, "ignore_unknown_options": True,
                                 "allow_extra_args": True})
@click.argument("script", required=False)
@click.option("--url", help="One-liner mode: the URL to load (no script).")
@click.option("--method", help="One-liner only: HTTP method.  [default: GET]")
@click.option("-H", "--header", "headers", multiple=True,
              help="'Name: value' sent with every request, a script's or a one-liner's "
                   "(repeatable; replaces a script header of the same name).")
@click.option("--body", help="One-liner only: request body.")
@click.option("--max-in-flight", type=int,
              help="Cap on concurrent iterations of arrival-rate scenarios (a script's or "
                   "a --rate one-liner's).")
@click.option("--rate", type=float,
              help="Iterations/s, whatever the script's time_unit: sets constant-arrival-rate "
                   "scenarios (their total, split as in the script).")
@click.option("--vus", type=int,
              help="VUs: sets constant-vus, per-vu-iterations and shared-iterations scenarios.")
@click.option("--duration", help="Duration, e.g. 30s, 5m: overrides every scenario.")
@click.option("--target", help="Base URL that a script's relative request paths resolve against.")
@click.option("--token", help="Bearer token sent with every request (never written to results).")
@click.option("--insecure", is_flag=True, default=None, help="Skip TLS certificate verification.")
@click.option("--ca-cert", "ca_file", type=click.Path(exists=True, dir_okay=False),
              help="Trust this CA (PEM) for TLS.")
@click.option("--client-cert", type=click.Path(dir_okay=False),
              help="Present this client certificate (PEM) to servers asking for one; "
                   "with --client-key.")
@click.option("--client-key", type=click.Path(dir_okay=False),
              help="The private key (PEM) of --client-cert.")
@click.option("-e", "--env", "env_pairs", multiple=True,
              help="Script variable KEY=VALUE (repeatable).")
@click.option("--threshold", "thresholds", multiple=True,
              help="Extra threshold METRIC[{tag:value}]:EXPR, e.g. 'http_req_duration:p(95)<500'.")
@click.option("--workers", type=int, default=1, help="Worker processes (one event loop each).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default: RESULTS_DIR/<run-id>).")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), help="Where run directories go.")
@click.option("--summary-export", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write summary.json here.")
@click.option("--stats-interval", default="5s", help="How often the live line prints.")
@click.option("--quiet", is_flag=True, help="No live line; only the summary.")
@click.option("--no-preflight", is_flag=True, help="Skip the reachability check of the target.")
@click.option("--observe", "observe", multiple=True, metavar="KIND=WHAT",
              help="Sample the server side every second (repeatable): "
                   "prometheus=URL[#metric,...], postgres=URL, process=PID|NAME.")
@click.option("--report", "html_report", is_flag=True,
              help="Write the HTML report (RUN_DIR/report.html) when the run ends.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the thresholds as JUnit XML test cases to this file.")
@click.option("--max-lag", default="10ms",
              help="Iteration lag p99 above which an open-loop schedule counts as not kept "
                   "(the run is then inconclusive).")
@click.option("--allow-inconclusive", is_flag=True,
              help="A run that did not deliver the load asked for passes with a warning "
                   "instead of ending INCONCLUSIVE (exit 3).")
@click.option("-o", "--output", "output_specs", multiple=True, metavar="KIND=WHERE",
              help="Also send the run's numbers to (repeatable): csv=FILE, "
                   "prometheus=HOST:PORT (a /metrics endpoint), prometheus-rw=URL "
                   "(remote write), dashboard=HOST:PORT (a live web page); "
                   "see docs/outputs.md.")
@click.option("--dashboard", is_flag=False, flag_value="127.0.0.1:5665", default=None,
              metavar="[HOST:PORT]",
              help="A live web dashboard during the run (default 127.0.0.1:5665, loopback "
                   "unless told otherwise); the same as -o dashboard=HOST:PORT.")
@click.option("--cluster", metavar="ADDRESS",
              help="Run on a Ray cluster: ray://HOST:10001 (Ray client) or auto (on a "
                   "cluster node); --workers is then per node. See docs/distributed.md.")
@click.option("--nodes", type=int, help="Cluster nodes to use.  [default: every alive node]")
@click.option("--lease", help="A node not polled for this long stops by itself.  [default: 5s]")
@click.option("--on-node-loss", type=click.Choice(["abort", "continue"]),
              help="A lost node stops the run (exit 4) or the others go on (still exit 4).  "
                   "[default: abort]")
@click.pass_context
@handle_errors
def run_cmd(ctx: click.Context, script: str | None, url: str | None, method: str | None,
            headers: tuple[str, ...], body: str | None, max_in_flight: int | None,
            rate: float | None, vus: int | None, duration: str | None, target: str | None,
            token: str | None, insecure: bool | None, ca_file: str | None,
            client_cert: str | None, client_key: str | None,
            env_pairs: tuple[str, ...], thresholds: tuple[str, ...], workers: int,
            out: Path | None, results_dir: Path, summary_export: Path | None,
            stats_interval: str, quiet: bool, no_preflight: bool,
            observe: tuple[str, ...], html_report: bool, junit_file: Path | None,
            max_lag: str, allow_inconclusive: bool,
            output_specs: tuple[str, ...], dashboard: str | None, cluster: str | None,
            nodes: int | None,
            lease: str | None, on_node_loss: str | None) -> None:
    """Run a load SCRIPT (a Python file or a built-in pack name), or a one-liner with --url.

    Options not listed here are the script's own parameters (for example
    `fleetload run agent-storm --agents 5000`); `fleetload run SCRIPT --help`
    lists them. Every option either takes effect or is an error: one that
    applies to some of a script's scenarios only prints a note naming the others.

    Exit codes: 0 all thresholds held, 99 a threshold failed, 3 inconclusive (the
    run did not deliver the load asked for), 2 invalid input or unreachable
    target, 130 interrupted, 1 internal error.
    """
    params = parse_params(list(ctx.args))
    if script:
        # One-liner settings from fleetload.toml or FLEETLOAD_* are for one-liners only.
        url, method, body = (value if on_command_line(ctx, name) else None
                             for name, value in (("url", url), ("method", method), ("body", body)))
    if url and params:
        raise ConfigError(f"unknown option(s) for a one-liner: "
                          f"{', '.join('--' + p.replace('_', '-') for p in params)}")
    if script and url:
        raise ConfigError("give either a SCRIPT or --url, not both")
    if not script and not url:
        raise ConfigError("nothing to run: give a SCRIPT (file or pack name) or --url URL")
    if script:
        for name, value in (("method", method), ("body", body)):
            if value is not None:
                raise ConfigError(f"--{name} applies to --url one-liners only; a script sets "
                                  f"each request's {name} itself")
    check_exclusive(ctx, (
        ("out", "results_dir", "--out names the run directory itself"),
        ("quiet", "stats_interval", "--quiet turns the live line off"),
        ("insecure", "ca_file", "--insecure skips certificate verification altogether"),
    ))
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if rate is not None and rate <= 0:
        raise ConfigError(f"--rate must be greater than 0, got {rate}")
    if vus is not None and vus <= 0:
        raise ConfigError(f"--vus must be greater than 0, got {vus}")
    if max_in_flight is not None and max_in_flight < 1:
        raise ConfigError(f"--max-in-flight must be at least 1, got {max_in_flight}")
    lag_bound = parse_duration(max_lag, what="--max-lag")
    overrides = Overrides(
        duration=parse_duration(duration, what="--duration") if duration else None,
        rate=rate, vus=vus, max_in_flight=max_in_flight,
        headers=tuple(parse_header(h) for h in headers),
        target=target, token=token, insecure=insecure, ca_file=ca_file,
        client_cert=client_cert, client_key=client_key,
        thresholds=tuple(parse_cli_threshold(t) for t in thresholds),
        env=parse_env(env_pairs),
        params=params,
    )
    if url:
        oneliner = OneLiner(url=url, method=method or "GET", body=body)

        def make_recipe(o: Overrides) -> PlanRecipe:
            return PlanRecipe(o, oneliner=oneliner)
    else:
        path = resolve_script(str(script))

        def make_recipe(o: Overrides) -> PlanRecipe:
            return PlanRecipe(o, script=path)
    # Built once here so bad input is exit 2 before anything starts, and the
    # notes on how the flags applied print once (the run builds it again).
    built = build_with_file_defaults(ctx, overrides, make_recipe, script=not url)
    recipe, plan = built.recipe, built.plan
    plan.client.check_client_identity()
    for note in (*plan.notes, *built.notes):
        click.echo(note, err=True)
    if on_command_line(ctx, "max_lag") and not any(s.executor.open_loop for s in plan.scenarios):
        raise ConfigError(f"--max-lag bounds the iteration lag of open-loop (arrival-rate) "
                          f"scenarios; {plan.source} has none")
    observers = []
    if observe:
        from fleetload.capacity.observe import build_observers

        observers = build_observers(observe)
    cfg = RunConfig(workers=workers, out=out, results_root=results_dir, observers=observers,
                    stats_interval=parse_duration(stats_interval, what="--stats-interval"),
                    summary_export=summary_export, quiet=quiet,
                    argv=redact_argv(sys.argv[1:]), preflight=not no_preflight,
                    allow_inconclusive=allow_inconclusive,
                    validity=ValidityRules(lag_bound=lag_bound),
                    outputs=build_outputs(output_specs + ((f"dashboard={dashboard}",)
                                                          if dashboard is not None else ())),
                    cluster=cluster_from_flags(cluster, nodes, lease, on_node_loss))
    outcome = run_async(run_test(recipe, cfg))
    click.echo(outcome.text, nl=False)
    # The run's verdict stands even if an extra output cannot be written.
    try:
        if junit_file:
            from fleetload.results.junit import thresholds_suite, write_junit

            write_junit(junit_file, [thresholds_suite(outcome.summary)])
        if html_report:
            from fleetload.report.html import write_report

            click.echo(f"  report: {write_report(outcome.run_dir)}")
    except Exception as exc:
        click.echo(f"fleetload: warning: could not write report/JUnit: {exc}", err=True)
    sys.exit(outcome.exit_code)
