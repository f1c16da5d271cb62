"""A ceiling against a target that requires client certificates: the steps and
the health gate present --client-cert/--client-key; without them it is one
line, exit 2, before any load. One 1 s + 1 s step at 20/s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetplane.launch import RunningTarget
from tests.support.pki import TestCA, start_mtls_target

from .conftest import SCRIPTS, run_cli

LIST = str(SCRIPTS / "list_certs.py")
ONE_STEP = ("--slo", "p(99)<2000", "--from", "20", "--to", "20", "--max-steps", "1",
            "--step-duration", "1s", "--warmup", "1s", "--cooldown-max", "10s")


@pytest.fixture(scope="module")
def mtls_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningTarget, Path]]:
    directory = tmp_path_factory.mktemp("mtls-ceiling")
    ca = TestCA.create()
    ca.client("ceiling-operator").write(directory, "operator")
    target = start_mtls_target(directory, ca)
    try:
        yield target, directory
    finally:
        target.stop()


def test_ceiling_presents_the_client_certificate(mtls_target: tuple[RunningTarget, Path],
                                                 tmp_path: Path) -> None:
    t, directory = mtls_target
    out = tmp_path / "c"
    r = run_cli("ceiling", LIST, "--target", t.url, "--token", t.api_key, "--ca-cert",
                str(t.ca_file), "--client-cert", str(directory / "operator.crt"),
                "--client-key", str(directory / "operator.key"), *ONE_STEP,
                "--out", str(out), timeout=90)
    assert r.code == 0, r.stderr + r.stdout
    rep = json.loads((out / "ceiling.json").read_text())
    assert rep["health"]["baseline_ms"] is not None
    [step] = rep["steps"]
    assert step["requests"] == 20 and step["errors"] == 0 and step["verdict"] == "ok", step


def test_ceiling_without_the_client_certificate_is_one_line(
        mtls_target: tuple[RunningTarget, Path], tmp_path: Path) -> None:
    t, _ = mtls_target
    r = run_cli("ceiling", LIST, "--target", t.url, "--token", t.api_key, "--ca-cert",
                str(t.ca_file), *ONE_STEP, "--out", str(tmp_path / "c"), timeout=90)
    assert r.code == 2, r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"fleetload: error: target {t.url}"), r.stderr
    assert "CERTIFICATE_REQUIRED" in r.stderr, r.stderr
    assert r.stderr.strip().endswith(
        "(the target asks for a client certificate: --client-cert FILE --client-key FILE)"), r.stderr
