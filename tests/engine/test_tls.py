"""TLS verification on by default, off with --insecure, a private CA with --ca-cert,
against the reference target serving HTTPS with a generated certificate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetplane.launch import RunningTarget, start_target
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tls_target() -> Iterator[RunningTarget]:
    target = start_target(tls=True)
    yield target
    target.stop()


def _oneliner(target: RunningTarget, out: Path, *extra: str):
    # about TLS verification, not schedule keeping (tests/results checks validity)
    return run_cli("run", "--url", target.url + "/healthz", "--rate", "20", "--duration", "1s",
                   "--quiet", "--out", str(out), "--allow-inconclusive", *extra)


def test_verification_is_on_by_default(tls_target, tmp_path):
    assert tls_target.url.startswith("https://")
    r = _oneliner(tls_target, tmp_path / "a")
    assert r.code == 2
    assert "tls_error" in r.stderr and "--insecure" in r.stderr
    assert not (tmp_path / "a" / "summary.json").exists()


def test_insecure_and_custom_ca(tls_target, tmp_path):
    for flags, out in ((("--insecure",), tmp_path / "b"),
                       (("--ca-cert", str(tls_target.ca_file)), tmp_path / "c")):
        r = _oneliner(tls_target, out, *flags)
        assert r.code == 0, r.stderr
        s = json.loads((out / "summary.json").read_text())
        assert s["metrics"]["http_reqs"]["values"]["count"] == 20
        assert s["metrics"]["http_req_failed"]["values"]["rate"] == 0
        # New connections paid for a handshake.
        assert s["metrics"]["http_req_tls_handshaking"]["values"]["max"] > 0
