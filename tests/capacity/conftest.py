"""Fixtures for the capacity tests: capacity-known test servers, the reference
target, and a CLI runner. Every server binds 127.0.0.1 and is stopped by pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]


def _start(*args: str) -> Server:
    proc = subprocess.Popen([sys.executable, "-m", "tests.capacity.servers", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"test server did not start: {line!r}")
    return Server(f"http://127.0.0.1:{int(line.split()[1])}", proc)


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def factory(*args: str) -> Server:
        s = _start(*args)
        started.append(s)
        return s

    yield factory
    for s in started:
        s.proc.terminate()
        s.proc.wait(5)


@pytest.fixture(scope="module")
def target() -> Iterator[object]:
    from fleetplane.launch import start_target

    with start_target(pool_size=4) as t:
        yield t


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.stdout)
        return data


def run_cli(*args: str, timeout: float = 150, env: dict[str, str] | None = None) -> CliResult:
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "fleetload", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=timeout, env=full_env, check=False)
    return CliResult(p.returncode, p.stdout, p.stderr)
