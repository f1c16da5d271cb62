"""``fleetload compare``: a run against a named baseline, noise taken into account."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fleetload.baseline.compare import compare_runs
from fleetload.baseline.data import load_run, require_conclusive
from fleetload.baseline.record import DEFAULT_STORE, baseline_dir
from fleetload.baseline.render import render_comparison
from fleetload.errors import ConfigError, ExitCode
from fleetload.results.junit import comparison_suite, write_junit
from fleetload.results.store import is_run_dir, resolve_run

from .errors import handle_errors

# Exit code when --fail-on-regression trips.
EXIT_REGRESSION = 1


@click.command("compare")
@click.argument("run")
@click.option("--baseline", "baseline", required=True,
              help="Baseline name in the store (or the path of a run directory).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_STORE,
              show_default=True, help="Folder of named baselines.")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True,
              help="Where to look RUN up when it is a run id.")
@click.option("--fail-on-regression", "fail_pct", type=float, metavar="PCT",
              help="Exit 1 when a metric regressed significantly by more than PCT percent.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison as JSON.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the verdicts as JUnit XML.")
@click.option("--allow-inconclusive", is_flag=True,
              help="Compare even when RUN or the baseline is inconclusive (did not deliver its load).")
@handle_errors
def compare_cmd(run: str, baseline: str, store: Path, results_dir: Path, fail_pct: float | None,
                json_file: Path | None, junit_file: Path | None, allow_inconclusive: bool) -> None:
    """Compare RUN (a run id, unique prefix or run directory) with a baseline.

    Per scenario: http_req_duration p50/p95/p99, http_req_latency p99, error
    rate and achieved iteration rate, each with its change, the 95% bootstrap
    confidence interval of the change, and a verdict (regression, improvement,
    no significant change). Methodology differences are warned about.

    Exit codes: 0 compared (and, with --fail-on-regression, nothing regressed
    beyond PCT); 1 a metric regressed significantly by more than PCT; 2 invalid
    input (unknown run or baseline, or an inconclusive run or baseline without
    --allow-inconclusive).
    """
    if fail_pct is not None and fail_pct < 0:
        raise ConfigError(f"--fail-on-regression must be >= 0, got {fail_pct:g}")
    base_path = Path(baseline)
    if not (base_path.is_dir() and is_run_dir(base_path)):
        base_path = baseline_dir(baseline, store)
    now = load_run(resolve_run(run, results_dir))
    base = load_run(base_path)
    require_conclusive(now.summary, now.path, what="compared", allow=allow_inconclusive)
    require_conclusive(base.summary, base.path, what="a baseline", allow=allow_inconclusive)
    cmp = compare_runs(base, now, baseline_name=baseline)
    click.echo(render_comparison(cmp, fail_pct), nl=False)
    for w in cmp.warnings:
        click.echo(f"fleetload: warning: methodology differs: {w}", err=True)
    data = cmp.as_dict(fail_pct)
    failing = cmp.regressions(fail_pct) if fail_pct is not None else []
    data["exit_code"] = EXIT_REGRESSION if failing else int(ExitCode.OK)
    if json_file:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if junit_file:
        write_junit(junit_file, [comparison_suite(data, fail_pct)])
    sys.exit(data["exit_code"])
