"""Every flag of ``fleetload run`` (and ``ceiling``) takes effect or is a
one-line error with exit 2; one that applies to some of a script's scenarios
only says which it did not apply to. ``run PACK --help`` lists the pack's
parameters. Loads are at most 20 iterations against the stub server or nginx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StubServer, run_cli
from tests.support.nginx import nginx_server

NOWHERE = "http://127.0.0.1:9"

HEADER_SCRIPT = """
from fleetload import VU, ConstantArrivalRate, check, scenario
options = {{"target": "{url}", "headers": {{"X-A": "from the script"}}}}
@scenario(ConstantArrivalRate(rate=20, duration="1s"))
async def echo(vu: VU) -> None:
    r = await vu.http.get("/hdr")
    check(r, {{"X-A from the command line": lambda r: r.text == "b"}})
"""

CAPPED_SCRIPT = """
from fleetload import VU, ConstantArrivalRate, scenario
options = {{"target": "{url}"}}
@scenario(ConstantArrivalRate(rate=20, duration="1s", max_in_flight=5, graceful_stop="2s"))
async def slow(vu: VU) -> None:
    await vu.http.get("/delay?ms=120")
"""

MIXED_SCRIPT = """
from fleetload import VU, ConstantArrivalRate, ConstantVUs, scenario
options = {{"target": "{url}"}}
@scenario(ConstantArrivalRate(rate=600, time_unit="1m", duration="1s"))
async def beat(vu: VU) -> None:
    await vu.http.get("/ok")
@scenario(ConstantVUs(vus=1, duration="1s"))
async def loop(vu: VU) -> None:
    await vu.http.get("/delay?ms=100")
"""

RAMP_SCRIPT = """
from fleetload import VU, RampingArrivalRate, scenario
options = {{"target": "{url}"}}
@scenario(RampingArrivalRate(start_rate=5, stages=[("1s", 10)]))
async def ramp(vu: VU) -> None:
    await vu.http.get("/ok")
"""

RATE_PARAM_SCRIPT = """
from fleetload import VU, RampingArrivalRate, param, scenario
RATE = param("rate", float, default=5.0, help="start rate")
options = {{"target": "{url}"}}
@scenario(RampingArrivalRate(start_rate=RATE, stages=[("1s", RATE)]))
async def ramp(vu: VU) -> None:
    await vu.http.get("/ok")
"""

CLOSED_SCRIPT = """
from fleetload import VU, ConstantVUs, param, scenario
SIZE = param("size", int, default=3, help="items per request")
TOKEN_FILE = param("token_file", required=True, help="where the token is")
options = {{"target": "{url}"}}
@scenario(ConstantVUs(vus=1, duration="1s"))
async def loop(vu: VU) -> None:
    await vu.http.get("/ok")
"""


def _script(tmp_path: Path, name: str, text: str, url: str = NOWHERE) -> str:
    path = tmp_path / name
    path.write_text(text.format(url=url))
    return str(path)


def _summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return data


def _one_error(r: Any) -> str:
    assert r.code == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    line: str = lines[0]
    assert line.startswith("fleetload: error: ")
    return line.removeprefix("fleetload: error: ")


@pytest.fixture(scope="module")
def echo_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Answers /hdr with the X-A request header it got.
    with nginx_server(tmp_path_factory.mktemp("nginx-hdr"),
                      'location = /hdr { return 200 "$http_x_a"; }') as url:
        yield url


def test_header_reaches_every_request_of_a_script(echo_nginx: str, tmp_path: Path) -> None:
    script = _script(tmp_path, "hdr.py", HEADER_SCRIPT, echo_nginx)
    out = tmp_path / "run"
    # Lower case on the command line still replaces the script's X-A.
    r = run_cli("run", script, "-H", "x-a: b", "--quiet", "--out", str(out))
    assert r.code == 0, r.stdout + r.stderr
    checks = _summary(out)["metrics"]["checks"]["values"]
    assert checks["passes"] == 20 and checks["fails"] == 0


def test_max_in_flight_overrides_the_scripts_cap(stub: StubServer, tmp_path: Path) -> None:
    script = _script(tmp_path, "capped.py", CAPPED_SCRIPT, stub.url)
    out = tmp_path / "run"
    r = run_cli("run", script, "--max-in-flight", "1", "--quiet", "--out", str(out))
    # 120 ms answers, one slot, an arrival every 50 ms: most arrivals are dropped.
    assert r.code == 3, r.stdout + r.stderr
    slow = _summary(out)["scenarios"]["slow"]
    assert slow["options"]["max_in_flight"] == 1 and slow["options"]["pre_allocated"] == 1
    assert slow["iterations"] + slow["dropped_iterations"] == 20
    assert 5 <= slow["dropped_iterations"] <= 16
    assert stub.stats().get("/delay", 0) == slow["iterations"]


def test_a_flag_some_scenarios_take_prints_one_note(stub: StubServer, tmp_path: Path) -> None:
    script = _script(tmp_path, "mixed.py", MIXED_SCRIPT, stub.url)
    out = tmp_path / "run"
    r = run_cli("run", script, "--rate", "15", "--vus", "2", "--workers", "2", "--quiet",
                "--out", str(out))
    assert r.code == 0, r.stdout + r.stderr
    # Once, though two worker processes build the plan too.
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert notes == ["note: --rate applied to beat; not to loop (constant-vus)",
                     "note: --vus applied to loop; not to beat (constant-arrival-rate)"]
    scenarios = _summary(out)["scenarios"]
    assert scenarios["beat"]["schedule"]["scheduled_iterations"] == 15  # 15/s for 1 s
    assert scenarios["loop"]["options"]["vus"] == 2


def test_a_rate_parameter_consumes_rate(stub: StubServer, tmp_path: Path) -> None:
    script = _script(tmp_path, "param.py", RATE_PARAM_SCRIPT, stub.url)
    out = tmp_path / "run"
    r = run_cli("run", script, "--rate", "12", "--quiet", "--out", str(out))
    assert r.code == 0, r.stdout + r.stderr
    assert "note:" not in r.stderr
    ramp = _summary(out)["scenarios"]["ramp"]
    assert ramp["options"]["start_rate"] == 12
    assert ramp["schedule"]["scheduled_iterations"] == 12


@pytest.mark.parametrize(("script", "args", "message"), [
    (CLOSED_SCRIPT, ("--method", "POST"),
     "--method applies to --url one-liners only; a script sets each request's method itself"),
    (CLOSED_SCRIPT, ("--body", "{}"),
     "--body applies to --url one-liners only; a script sets each request's body itself"),
    (RAMP_SCRIPT, ("--rate", "10"),
     "--rate does not apply to {path}: its scenarios are ramp (ramping-arrival-rate); --rate "
     "sets constant-arrival-rate scenarios (a ramping-arrival-rate follows its stages) or a "
     "script parameter param('rate')"),
    (RAMP_SCRIPT, ("--vus", "3"),
     "--vus does not apply to {path}: its scenarios are ramp (ramping-arrival-rate); --vus "
     "sets constant-vus, per-vu-iterations and shared-iterations scenarios (ramping-vus "
     "follows its stages) or a script parameter param('vus')"),
    (CLOSED_SCRIPT, ("--max-in-flight", "2"),
     "--max-in-flight does not apply to {path}: its scenarios are loop (constant-vus); "
     "--max-in-flight sets constant- and ramping-arrival-rate scenarios or a script parameter "
     "param('max_in_flight')"),
    (RAMP_SCRIPT, ("--max-in-flight", "0"), "--max-in-flight must be at least 1, got 0"),
    (CLOSED_SCRIPT, ("--max-lag", "5ms"),
     "--max-lag bounds the iteration lag of open-loop (arrival-rate) scenarios; {path} has none"),
    (RAMP_SCRIPT, ("--out", "x", "--results-dir", "y"),
     "--results-dir has no effect with --out: --out names the run directory itself"),
    (RAMP_SCRIPT, ("--quiet", "--stats-interval", "1s"),
     "--stats-interval has no effect with --quiet: --quiet turns the live line off"),
    (RAMP_SCRIPT, ("--insecure", "--ca-cert", "{path}"),
     "--ca-cert has no effect with --insecure: --insecure skips certificate verification "
     "altogether"),
])
def test_a_flag_that_would_be_ignored_is_exit_2(tmp_path: Path, script: str,
                                                args: tuple[str, ...], message: str) -> None:
    path = _script(tmp_path, "s.py", script)
    argv = [path if a == "{path}" else a for a in args]
    r = run_cli("run", path, "--token-file", "t", *argv) if script == CLOSED_SCRIPT \
        else run_cli("run", path, *argv)
    assert _one_error(r) == message.format(path=path)


@pytest.mark.parametrize(("args", "message"), [
    (("--target", NOWHERE), "--target sets the base of a script's relative paths; a one-liner "
                            "requests --url as given"),
    (("-e", "A=1"), "-e sets script variables; a one-liner has no script to read them"),
    (("--max-in-flight", "3", "--vus", "2"),
     "--max-in-flight caps an open-loop (--rate) one-liner; with --vus the VUs are the cap"),
])
def test_one_liner_flags_that_would_be_ignored_are_exit_2(args: tuple[str, ...],
                                                          message: str) -> None:
    rate = () if "--vus" in args else ("--rate", "5")
    r = run_cli("run", "--url", NOWHERE + "/", *rate, "--duration", "1s", *args)
    assert _one_error(r) == message


def test_ceiling_refuses_what_it_cannot_step(tmp_path: Path) -> None:
    ramp = _script(tmp_path, "ramp.py", RAMP_SCRIPT)
    r = run_cli("ceiling", ramp, "--slo", "p(99)<100", "--no-cooldown")
    assert _one_error(r) == (
        f"{ramp}: the ceiling steps the rate of constant-arrival-rate scenarios and ramp is "
        "ramping-arrival-rate, whose rate follows its stages; give it a ConstantArrivalRate "
        "scenario")
    mixed = _script(tmp_path, "mixed.py", MIXED_SCRIPT)
    for flag, why in (("--rate", "the ceiling sets each step's rate (--from, --to)"),
                      ("--duration", "a step lasts --warmup + --step-duration")):
        r = run_cli("ceiling", mixed, "--slo", "p(99)<100", "--no-cooldown", flag, "5")
        assert _one_error(r) == f"{flag} is not a ceiling option: {why}"


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_run_pack_help_lists_the_packs_parameters() -> None:
    r = run_cli("run", "agent-storm", "--help")
    assert r.code == 0, r.stderr
    head, params = r.stdout.split("Parameters of agent-storm", 1)
    assert "--max-in-flight" in head  # the run command's own help comes first
    flat = _flat(params)
    assert "--agents INT fleet size (ag-loadtest-00001..) [default: 5000]" in flat
    assert "--heartbeat-interval DURATION how often each agent heartbeats [default: 30s]" in flat
    assert "--work-poll also poll for work" in flat


def test_help_lists_required_parameters_without_needing_them(tmp_path: Path) -> None:
    script = _script(tmp_path, "closed.py", CLOSED_SCRIPT)
    r = run_cli("run", script, "--help")
    assert r.code == 0, r.stderr
    flat = _flat(r.stdout.split(f"Parameters of {script}", 1)[1])
    assert "--size INT items per request [default: 3]" in flat
    assert "--token-file TEXT where the token is [required]" in flat
    # A pack whose required value is checked at import still lists what it declared.
    acme = run_cli("run", "acme-enroll", "--help")
    assert acme.code == 0, acme.stderr
    assert "--directory TEXT ACME directory URL [required]" in _flat(acme.stdout)
    assert "--rate NUMBER enrollments/s" in _flat(acme.stdout)


def test_ceiling_names_the_scenarios_it_does_not_step(tmp_path: Path) -> None:
    mixed = _script(tmp_path, "mixed.py", MIXED_SCRIPT)
    r = run_cli("ceiling", mixed, "--slo", "p(99)<100", "--no-cooldown",
                "--out", str(tmp_path / "c"))
    assert r.code == 2  # nothing listens at the script's target
    assert r.stderr.splitlines()[0] == ("note: the ceiling steps beat; loop (constant-vus) run "
                                        "as written in every step")
    assert "unreachable" in r.stderr.splitlines()[-1]
