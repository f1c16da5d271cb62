"""Runs shared by the baseline, report, results and CI-format tests (their fixtures
are registered for the whole suite in ``tests/conftest.py``).

Each load is a few seconds against one stub server; the runs are made once per
session and only read afterwards (tests that modify a run copy it first).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import StubServer, run_cli, start_stub

SCRIPT = Path(__file__).parent / "run_scripts" / "mixed.py"


@dataclass
class Run:
    path: Path
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def shared_stub() -> Iterator[StubServer]:
    server = start_stub()
    yield server
    server.proc.terminate()
    server.proc.wait(5)


def mixed_run(stub: StubServer, out: Path, *args: str, **env: str) -> Run:
    """One run of run_scripts/mixed.py; env: MS, RATE, DUR, FAIL_EVERY, BROWSE_P99."""
    pairs = [x for k, v in {"TARGET": stub.url, "DUR": "3s", **env}.items()
             for x in ("-e", f"{k}={v}")]
    r = run_cli("run", str(SCRIPT), *pairs, "--out", str(out), "--quiet", *args)
    return Run(out, r.code, r.stdout, r.stderr)


@pytest.fixture(scope="session")
def results_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="session")
def fast_run(shared_stub: StubServer, results_root: Path) -> Run:
    """The baseline-to-be: 2 ms server time in 'api', with the HTML report and JUnit."""
    run = mixed_run(shared_stub, results_root / "fast", "--report",
                    "--junit", str(results_root.parent / "fast-junit.xml"),
                    MS="2", FAIL_EVERY="9")
    assert run.code == 0, run.stderr + run.stdout
    return run


@pytest.fixture(scope="session")
def slow_run(shared_stub: StubServer, results_root: Path) -> Run:
    """Same load, 30 ms server time in 'api'; the 'browse' threshold fails on purpose."""
    run = mixed_run(shared_stub, results_root / "slow",
                    "--junit", str(results_root.parent / "slow-junit.xml"),
                    MS="30", FAIL_EVERY="9", BROWSE_P99="p(99)<5")
    assert run.code == 99, run.stderr + run.stdout
    return run


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "loadtest-baselines"


@pytest.fixture
def copy_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    def copy(run: Run, name: str = "copy") -> Path:
        dest = tmp_path / name
        shutil.copytree(run.path, dest)
        return dest
    return copy
