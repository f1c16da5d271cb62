"""Fixtures for the ACME tests: Pebble (real server, real validation through
the in-process responders) and a tiny fake ACME server for bad responses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, run_cli
from tests.protocols.acme.fakeacme import FakeAcme
from tests.protocols.acme.pebble import CHALLTESTSRV, PEBBLE, Pebble, free_port

needs_pebble = pytest.mark.skipif(PEBBLE is None or CHALLTESTSRV is None,
                                  reason="pebble / pebble-challtestsrv not installed "
                                         "(apt install pebble)")


@dataclass
class PebbleSetup:
    pebble: Pebble
    http01: str
    tls_alpn: str

    def args(self) -> list[str]:
        return ["--directory", self.pebble.directory, "--ca-cert", str(self.pebble.ca_file),
                "--http01-listen", self.http01, "--tls-alpn-listen", self.tls_alpn]


def _pebble(nonce_reject: int | None) -> Iterator[PebbleSetup]:
    http01, tls = free_port(), free_port()
    pb = Pebble(http_port=http01, tls_port=tls, nonce_reject=nonce_reject)
    try:
        yield PebbleSetup(pb, f"127.0.0.1:{http01}", f"127.0.0.1:{tls}")
    finally:
        pb.stop()


@pytest.fixture(scope="module")
def pebble() -> Iterator[PebbleSetup]:
    """Pebble as it comes: its default nonce rejection (5 %) included, which
    the pack's defaults must absorb."""
    yield from _pebble(None)


@pytest.fixture
def pebble_nonce_reject(request: pytest.FixtureRequest) -> Iterator[PebbleSetup]:
    """Pebble refusing ``request.param`` percent of valid nonces."""
    yield from _pebble(int(request.param))


@pytest.fixture
def fake_acme() -> Iterator[FakeAcme]:
    fake = FakeAcme()
    yield fake
    fake.close()


@dataclass
class PackRun:
    result: CliResult
    summary: dict[str, Any]

    def count(self, key: str) -> float:
        m = self.summary["metrics"].get(key)
        return float(m["values"]["count"]) if m else 0.0

    def rate(self, key: str) -> float:
        return float(self.summary["metrics"][key]["values"]["rate"])

    @property
    def acme(self) -> dict[str, Any]:
        section: dict[str, Any] = self.summary["acme"]
        return section


def run_pack(tmp_path: Path, *args: str, timeout: float = 90) -> PackRun:
    """``fleetload run acme-enroll ARGS``. These tests are about the protocol,
    not the generator keeping its schedule on a shared machine: a late start
    (iteration lag above ``--max-lag``) is a warning, not exit 3."""
    out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    r = run_cli("run", "acme-enroll", *args, "--out", str(out), "--quiet", "--no-preflight",
                "--allow-inconclusive", timeout=timeout)
    summary_path = out / "summary.json"
    assert summary_path.exists(), r.stderr + r.stdout
    return PackRun(r, json.loads(summary_path.read_text()))
