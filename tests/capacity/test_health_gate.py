"""The cooldown gate's URL must answer 2xx before the first step.

nginx plays a server like certctl: ``/health`` answers 200, ``/healthz``
answers 401 and everything else but the load path 404; so does the reference
target in its certctl profile. Without --health-url the usual paths are tried
in order and the first to answer 2xx is used; a --health-url that does not
answer 2xx, or no path that does, is exit 2 before any load. One 1 s + 1 s
step at 20/s at most.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.nginx import nginx_server

from .conftest import SCRIPTS, run_cli

WORK = str(SCRIPTS / "work.py")
LOCATIONS = ('location = /health { return 200 "ok"; } '
             'location = /healthz { return 401 "unauthorized"; } '
             'location = /work { return 200 "ok"; } '
             'location / { return 404 "not found"; }')
ONE_STEP = ("--slo", "p(99)<1000", "--from", "20", "--to", "20", "--max-steps", "1",
            "--step-duration", "1s", "--warmup", "1s")


@pytest.fixture(scope="module")
def certctl_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nginx_server(tmp_path_factory.mktemp("nginx-health"), LOCATIONS) as url:
        yield url


def test_default_gate_finds_health_when_healthz_answers_401(certctl_like: str,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "c"
    r = run_cli("ceiling", WORK, "--target", certctl_like, *ONE_STEP, "--cooldown-max", "5s",
                "--out", str(out), timeout=60)
    assert r.code == 0, r.stderr + r.stdout
    assert (f"health: using {certctl_like}/health, the first of /healthz, /health, /readyz, "
            "/ready, /livez to answer 2xx (/healthz answered 401)") in r.stderr
    health = json.loads((out / "ceiling.json").read_text())["health"]
    assert health["url"] == certctl_like + "/health"
    assert health["chosen_by"] == "discovery"
    assert health["tried"] == [{"url": certctl_like + "/healthz", "answer": "401"},
                               {"url": certctl_like + "/health", "answer": "200"}]
    assert health["baseline_ms"] is not None


def test_a_health_url_that_is_not_2xx_is_exit_2(certctl_like: str, tmp_path: Path) -> None:
    r = run_cli("ceiling", WORK, "--target", certctl_like, *ONE_STEP,
                "--health-url", certctl_like + "/healthz", "--out", str(tmp_path / "c"))
    assert r.code == 2, r.stderr + r.stdout
    assert r.stderr.strip() == (
        f"fleetload: error: --health-url {certctl_like}/healthz answered 401, not 2xx, before "
        "the first step: give a --health-url the target answers 2xx on when healthy, "
        "or --no-cooldown")
    assert not (tmp_path / "c").exists()


def test_no_health_path_answering_2xx_is_exit_2(certctl_like: str, tmp_path: Path) -> None:
    base = certctl_like + "/app"  # every /app/<path> is 404
    r = run_cli("ceiling", WORK, "--target", base, *ONE_STEP, "--out", str(tmp_path / "c"))
    assert r.code == 2, r.stderr + r.stdout
    assert r.stderr.strip() == (
        f"fleetload: error: no health endpoint of {base} answered 2xx (tried /healthz 404, "
        "/health 404, /readyz 404, /ready 404, /livez 404): give --health-url URL, "
        "or --no-cooldown")


def test_an_explicit_health_url_is_used_as_given(certctl_like: str, tmp_path: Path) -> None:
    out = tmp_path / "c"
    r = run_cli("ceiling", WORK, "--target", certctl_like, *ONE_STEP,
                "--health-url", certctl_like + "/health", "--max-in-flight", "7",
                "--out", str(out), timeout=60)
    assert r.code == 0, r.stderr + r.stdout
    assert f"health: --health-url {certctl_like}/health answers 2xx" in r.stderr
    rep = json.loads((out / "ceiling.json").read_text())
    health = rep["health"]
    assert health["url"] == certctl_like + "/health" and health["chosen_by"] == "--health-url"
    # --max-in-flight reached the stepped scenario.
    step_summary = json.loads((Path(rep["steps"][0]["run_dir"]) / "summary.json").read_text())
    assert step_summary["scenarios"]["work"]["options"]["max_in_flight"] == 7


def test_cooldown_options_without_a_gate_are_exit_2(certctl_like: str, tmp_path: Path) -> None:
    for extra, flag in ((("--health-url", certctl_like + "/health"), "--health-url"),
                        (("--cooldown-max", "5s"), "--cooldown-max")):
        r = run_cli("ceiling", WORK, "--target", certctl_like, *ONE_STEP, "--no-cooldown",
                    *extra, "--out", str(tmp_path / "c"))
        assert r.code == 2, r.stderr
        assert r.stderr.strip() == (f"fleetload: error: {flag} has no effect with "
                                    "--no-cooldown: --no-cooldown turns the health gate off")


def test_reference_target_as_certctl_gates_on_health(tmp_path: Path) -> None:
    from fleetplane.launch import start_target

    out = tmp_path / "c"
    with start_target(profile="certctl") as t:
        r = run_cli("ceiling", str(SCRIPTS / "list_certs.py"), "--target", t.url,
                    "--token", t.api_key, *ONE_STEP, "--cooldown-max", "5s",
                    "--out", str(out), timeout=60)
    assert r.code == 0, r.stderr + r.stdout
    assert (f"health: using {t.url}/health, the first of /healthz, /health, /readyz, /ready, "
            "/livez to answer 2xx (/healthz answered 401)") in r.stderr
    rep: dict[str, Any] = json.loads((out / "ceiling.json").read_text())
    assert rep["health"]["url"] == t.url + "/health"
    assert rep["steps"][0]["error_rate"] == 0
