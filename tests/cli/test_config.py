"""Configuration outside argv: fleetload.toml (or [tool.fleetload] in
pyproject.toml), FLEETLOAD_<OPTION> variables and flags, in k6's order
(defaults < file < script < environment < flags). Runs are 3 iterations of one
VU against the stub server, nginx or the reference target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetplane.launch import start_target
from tests.conftest import StubServer, run_cli
from tests.support.nginx import nginx_server

NOWHERE = "http://127.0.0.1:9"

SCRIPT = """
from fleetload import VU, PerVUIterations, scenario
{options}
@scenario(PerVUIterations(vus=1, iterations=3, max_duration="10s"))
async def ok(vu: VU) -> None:
    await vu.http.get("/ok")
"""

TOKEN_SCRIPT = """
from fleetload import VU, PerVUIterations, check, scenario
options = {options}
@scenario(PerVUIterations(vus=1, iterations=3, max_duration="10s"))
async def auth(vu: VU) -> None:
    r = await vu.http.get("/auth")
    check(r, {{"token": lambda r: r.text == "Bearer {expect}"}})
"""

STEPPED_SCRIPT = """
from fleetload import VU, ConstantArrivalRate, scenario
options = {"target": "URL"}
@scenario(ConstantArrivalRate(rate=5, duration="1s"))
async def ok(vu: VU) -> None:
    await vu.http.get("/ok")
"""


def _script(tmp_path: Path, target: str | None = None) -> str:
    options = f'options = {{"target": "{target}"}}' if target else ""
    path = tmp_path / "load.py"
    path.write_text(SCRIPT.format(options=options))
    return str(path)


def _config(tmp_path: Path, text: str, name: str = "fleetload.toml") -> None:
    (tmp_path / name).write_text(text)


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return run_cli("run", *args, "--quiet", cwd=tmp_path, env=env, timeout=60)


def _one_error(r: Any) -> str:
    assert r.code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    line: str = lines[0]
    return line


# -- each source takes effect, in order --------------------------------------------

def test_the_files_target_is_used_when_the_script_sets_none(stub: StubServer,
                                                            tmp_path: Path) -> None:
    _config(tmp_path, f'[run]\ntarget = "{stub.url}"\n')
    r = _run(tmp_path, _script(tmp_path))
    assert r.code == 0, r.stdout + r.stderr
    assert stub.stats()["/ok"] == 3


def test_the_file_does_not_beat_the_scripts_own_target(stub: StubServer,
                                                       tmp_path: Path) -> None:
    _config(tmp_path, f'[run]\ntarget = "{NOWHERE}"\n')
    r = _run(tmp_path, _script(tmp_path, target=stub.url))
    assert r.code == 0, r.stdout + r.stderr
    assert stub.stats()["/ok"] == 3


def test_the_environment_beats_the_file_and_the_script(stub: StubServer,
                                                       tmp_path: Path) -> None:
    _config(tmp_path, f'[run]\ntarget = "{NOWHERE}"\n')
    r = _run(tmp_path, _script(tmp_path, target=NOWHERE), env={"FLEETLOAD_TARGET": stub.url})
    assert r.code == 0, r.stdout + r.stderr
    assert stub.stats()["/ok"] == 3


def test_a_flag_beats_the_environment(stub: StubServer, tmp_path: Path) -> None:
    r = _run(tmp_path, _script(tmp_path), "--target", stub.url,
             env={"FLEETLOAD_TARGET": NOWHERE})
    assert r.code == 0, r.stdout + r.stderr
    assert stub.stats()["/ok"] == 3


def test_results_dir_from_file_then_environment_then_flag(stub: StubServer,
                                                          tmp_path: Path) -> None:
    """An option the script has no say in: file < env < flag, each a real run."""
    _config(tmp_path, '[run]\nresults_dir = "from-file"\n')
    script = _script(tmp_path, target=stub.url)
    assert _run(tmp_path, script).code == 0
    assert _run(tmp_path, script, env={"FLEETLOAD_RESULTS_DIR": "from-env"}).code == 0
    assert _run(tmp_path, script, "--results-dir", "from-flag",
                env={"FLEETLOAD_RESULTS_DIR": "from-env"}).code == 0
    for where in ("from-file", "from-env", "from-flag"):
        runs = list((tmp_path / where).glob("*/summary.json"))
        assert len(runs) == 1, where
    assert stub.stats()["/ok"] == 9


def test_a_script_that_requires_a_target_takes_the_files(stub: StubServer,
                                                         tmp_path: Path) -> None:
    script = tmp_path / "needs.py"
    script.write_text(SCRIPT.format(options='from fleetload import param\n'
                                            'TARGET = param("target", str, required=True)'))
    _config(tmp_path, f'[run]\ntarget = "{stub.url}"\n')
    r = _run(tmp_path, str(script))
    assert r.code == 0, r.stdout + r.stderr
    assert stub.stats()["/ok"] == 3


def test_ceiling_takes_its_slo_from_the_file_but_keeps_the_scripts_target(
        stub: StubServer, tmp_path: Path) -> None:
    script = tmp_path / "steps.py"
    script.write_text(STEPPED_SCRIPT.replace("URL", stub.url))
    _config(tmp_path, f'[ceiling]\ntarget = "{NOWHERE}"\nslo = ["p(99)<1000"]\n'
                      'step-duration = "1s"\nwarmup = "0s"\nno-cooldown = true\n')
    r = run_cli("ceiling", str(script), "--from", "5", "--to", "6", "--max-steps", "2",
                "--out", str(tmp_path / "ceiling"), cwd=tmp_path, timeout=60)
    assert r.code == 0, r.stdout + r.stderr
    assert "the search stopped because it reached --to 6/s" in r.stdout
    assert stub.stats()["/ok"] == 11


def test_pyproject_tool_section_is_read(stub: StubServer, tmp_path: Path) -> None:
    _config(tmp_path, f'[project]\nname = "x"\n[tool.fleetload.run]\ntarget = "{stub.url}"\n',
            name="pyproject.toml")
    r = _run(tmp_path, _script(tmp_path))
    assert r.code == 0, r.stdout + r.stderr
    assert stub.stats()["/ok"] == 3


def test_a_file_duration_does_not_change_a_scripts_scenarios(stub: StubServer,
                                                             tmp_path: Path) -> None:
    _config(tmp_path, '[run]\nduration = "1m"\n')
    r = _run(tmp_path, _script(tmp_path, target=stub.url))
    assert r.code == 0, r.stdout + r.stderr
    assert ("note: fleetload.toml [run] duration not applied: the script's scenarios set "
            "their own (give --duration or FLEETLOAD_DURATION to override them)") in r.stderr
    assert stub.stats()["/ok"] == 3


def test_general_variables_a_run_does_not_use_are_no_conflict(stub: StubServer,
                                                               tmp_path: Path) -> None:
    """Exported settings meant for other runs (a results dir that --out sets
    aside, a lag bound for open-loop scripts, a one-liner's method) do not
    stop a closed-loop script run with --out."""
    env = {"FLEETLOAD_RESULTS_DIR": "elsewhere", "FLEETLOAD_MAX_LAG": "5ms",
           "FLEETLOAD_METHOD": "POST", "FLEETLOAD_TARGET": stub.url}
    r = _run(tmp_path, _script(tmp_path), "--out", str(tmp_path / "here"), env=env)
    assert r.code == 0, r.stdout + r.stderr
    assert (tmp_path / "here" / "summary.json").is_file()
    assert not (tmp_path / "elsewhere").exists()
    assert stub.stats()["/ok"] == 3
    # Both on the command line, the conflict is still an error.
    r = _run(tmp_path, _script(tmp_path), "--out", str(tmp_path / "x"), "--results-dir", "y",
             env=env)
    assert _one_error(r) == ("fleetload: error: --results-dir has no effect with --out: "
                             "--out names the run directory itself")


@pytest.fixture(scope="module")
def auth_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Answers /auth with the Authorization header it got.
    with nginx_server(tmp_path_factory.mktemp("nginx-auth"),
                      'location = /auth { return 200 "$http_authorization"; }') as url:
        yield url


def _token_run(tmp_path: Path, url: str, script_token: str | None, expect: str,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    options: dict[str, str] = {"target": url}
    if script_token:
        options["token"] = script_token
    script = tmp_path / "auth.py"
    script.write_text(TOKEN_SCRIPT.format(options=json.dumps(options), expect=expect))
    out = tmp_path / f"out-{expect}"
    r = _run(tmp_path, str(script), "--out", str(out), env=env)
    assert r.code == 0, r.stdout + r.stderr
    checks: dict[str, Any] = json.loads((out / "summary.json").read_text())["metrics"]["checks"]
    return checks["values"]


def test_token_file_then_script_then_environment(auth_nginx: str, tmp_path: Path) -> None:
    _config(tmp_path, '[run]\ntoken = "file-tok"\n')
    for script_token, expect, env in ((None, "file-tok", None),
                                      ("script-tok", "script-tok", None),
                                      ("script-tok", "env-tok", {"FLEETLOAD_TOKEN": "env-tok"})):
        checks = _token_run(tmp_path, auth_nginx, script_token, expect, env)
        assert (checks["passes"], checks["fails"]) == (3, 0), (script_token, env)


# -- errors -------------------------------------------------------------------------

def test_an_unknown_key_is_one_line_exit_2(tmp_path: Path) -> None:
    _config(tmp_path, '[run]\ntarget = "http://x"\nworkerz = 2\n')
    assert _one_error(run_cli("run", "x.py", cwd=tmp_path)) == (
        "fleetload: error: fleetload.toml [run]: unknown key 'workerz': "
        "not an option of 'fleetload run'")


def test_an_unknown_section_is_one_line_exit_2(tmp_path: Path) -> None:
    _config(tmp_path, "[rnu]\nworkers = 2\n")
    assert _one_error(run_cli("plan", "--agents", "1", cwd=tmp_path)) == (
        "fleetload: error: fleetload.toml: section [rnu] is not a fleetload command")


def test_an_unknown_key_in_pyproject_names_the_tool_section(tmp_path: Path) -> None:
    _config(tmp_path, "[tool.fleetload.ceiling]\nrate = 5\n", name="pyproject.toml")
    assert _one_error(run_cli("config", "show", "ceiling", cwd=tmp_path)) == (
        "fleetload: error: pyproject.toml [tool.fleetload.ceiling]: unknown key 'rate': "
        "not an option of 'fleetload ceiling'")


def test_a_value_the_option_refuses_is_one_line_exit_2(tmp_path: Path) -> None:
    _config(tmp_path, '[export]\nformat = "xml"\n')
    assert _one_error(run_cli("runs", cwd=tmp_path)) == (
        "fleetload: error: fleetload.toml [export]: key 'format': "
        "'xml' is not one of 'csv', 'ndjson'.")


def test_invalid_toml_is_one_line_exit_2(tmp_path: Path) -> None:
    _config(tmp_path, "[run\n")
    line = _one_error(run_cli("runs", cwd=tmp_path))
    assert line.startswith("fleetload: error: fleetload.toml: invalid TOML: ")


def test_a_nested_command_section_is_checked(tmp_path: Path) -> None:
    _config(tmp_path, '[baseline.record]\nname = "main"\nforse = true\n')
    assert _one_error(run_cli("runs", cwd=tmp_path)) == (
        "fleetload: error: fleetload.toml [baseline.record]: unknown key 'forse': "
        "not an option of 'fleetload baseline record'")


# -- config show, help --------------------------------------------------------------

def test_config_show_names_each_source_and_masks_secrets(tmp_path: Path) -> None:
    _config(tmp_path, '[run]\ntoken = "s3cret-file"\nmax-lag = "20ms"\n'
                      'env = ["API_TOKEN=s3cret-env", "MODE=fast"]\n'
                      '[cleanup]\nadmin_key = "adm1n"\n')
    r = run_cli("config", "show", "run", cwd=tmp_path,
                env={"FLEETLOAD_TARGET": "http://user:pw@127.0.0.1:8/", "FLEETLOAD_WORKERS": "3"})
    assert r.code == 0, r.stderr
    lines = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[1:]}
    assert r.stdout.splitlines()[0] == "fleetload run"
    assert lines["--token"] == ["***", "(fleetload.toml", "[run])"]
    assert lines["--max-lag"] == ["20ms", "(fleetload.toml", "[run])"]
    assert lines["--target"] == ["http://127.0.0.1:8/", "(env", "FLEETLOAD_TARGET)"]
    assert lines["--workers"] == ["3", "(env", "FLEETLOAD_WORKERS)"]
    assert lines["--stats-interval"] == ["5s", "(default)"]
    assert lines["--env"] == ["API_TOKEN=***,", "MODE=fast", "(fleetload.toml", "[run])"]
    assert "s3cret" not in r.stdout and "pw@" not in r.stdout
    r = run_cli("config", "show", "cleanup", cwd=tmp_path, env={"FLEETLOAD_ADMIN_KEY": "envadm"})
    assert "  --admin-key  ***" in r.stdout and "(env FLEETLOAD_ADMIN_KEY)" in r.stdout
    assert "adm1n" not in r.stdout and "envadm" not in r.stdout


def test_config_show_without_a_command_lists_every_command(tmp_path: Path) -> None:
    r = run_cli("config", "show", cwd=tmp_path)
    assert r.code == 0, r.stderr
    headings = [line for line in r.stdout.splitlines() if line.startswith("fleetload ")]
    for name in ("run", "ceiling", "cleanup", "seed", "baseline record", "compare"):
        assert f"fleetload {name}" in headings
    assert "  --auth-secret" in r.stdout and "fleetload-dev-key" not in r.stdout


def test_config_show_of_an_unknown_command_is_exit_2(tmp_path: Path) -> None:
    r = run_cli("config", "show", "rnu", cwd=tmp_path)
    assert r.code == 2 and "no such command 'rnu'" in r.stderr


def test_help_shows_the_variable(tmp_path: Path) -> None:
    r = run_cli("ceiling", "--help", cwd=tmp_path)
    assert r.code == 0
    flat = " ".join(r.stdout.split())
    assert "env var: FLEETLOAD_MAX_IN_FLIGHT" in flat and "env var: FLEETLOAD_TARGET" in flat


# -- one spelling per concept -------------------------------------------------------

def test_seed_takes_target_and_token_and_the_old_spellings(tmp_path: Path) -> None:
    with start_target(auth_secret="seed-key") as t:
        r = run_cli("seed", "--target", t.url, "--token", "seed-key", "--certs", "3",
                    "--agents", "2", cwd=tmp_path)
        assert r.code == 0, r.stderr
        assert "certificates added 3" in r.stdout and "agents added 2" in r.stdout
        r = run_cli("seed", "--target-url", t.url, "--api-key", "seed-key", "--certs", "4",
                    "--agents", "2", cwd=tmp_path)
        assert r.code == 0, r.stderr
        assert "certificates added 1" in r.stdout and "agents added 0" in r.stdout
        r = run_cli("seed", "--certs", "5", "--agents", "2", cwd=tmp_path,
                    env={"FLEETLOAD_TARGET": t.url, "FLEETLOAD_TOKEN": "seed-key"})
        assert r.code == 0, r.stderr
        assert "certificates added 1" in r.stdout
