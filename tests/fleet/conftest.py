"""Fixtures for the fleet tests: reference targets on loopback, and a helper
running ``fleetload run fleet`` in a subprocess and reading its summary."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from fleetplane.launch import RunningTarget, start_target  # noqa: E402

API_KEY = "fleet-test-key"
ADMIN_KEY = "fleet-admin-key"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(ROOT), env.get("PYTHONPATH", "")])
    return env


@dataclass
class FleetRun:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None
    run_dir: Path | None

    @property
    def fleet(self) -> dict[str, Any]:
        assert self.summary is not None, self.stderr[-3000:]
        section: dict[str, Any] = self.summary["scenarios"]["fleet"]["fleet"]
        return section

    @property
    def run_id(self) -> str:
        assert self.summary is not None, self.stderr[-3000:]
        return str(self.summary["run"]["id"])

    def timeline(self) -> list[dict[str, Any]]:
        assert self.run_dir is not None
        path = self.run_dir / "timeline.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fleet_args(t: RunningTarget, tmp: Path, *args: str, token: str = API_KEY) -> list[str]:
    return [sys.executable, "-m", "fleetload", "run", "fleet",
            "--target", t.url, "--grpc-target", t.grpc_target, "--token", token,
            "--results-dir", str(tmp / "results"), "--summary-export", str(tmp / "summary.json"),
            "--stats-interval", "1s", *args]


def start_fleet(t: RunningTarget, tmp: Path, *args: str, token: str = API_KEY) -> subprocess.Popen[str]:
    return subprocess.Popen(fleet_args(t, tmp, *args, token=token), cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_fleet(proc: subprocess.Popen[str], tmp: Path, timeout: float = 90) -> FleetRun:
    out, err = proc.communicate(timeout=timeout)
    path = tmp / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else None
    run_dir = None
    if summary is not None:
        run_dir = tmp / "results" / summary["run"]["id"]
    return FleetRun(proc.returncode, out, err, summary, run_dir)


def run_fleet(t: RunningTarget, tmp: Path, *args: str, token: str = API_KEY,
              timeout: float = 90) -> FleetRun:
    return finish_fleet(start_fleet(t, tmp, *args, token=token), tmp, timeout)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleetload", *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


def api_get(t: RunningTarget, path: str) -> Any:
    req = urllib.request.Request(t.url + path, headers={"Authorization": f"Bearer {t.api_key}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def run_agents(t: RunningTarget, run_id: str) -> list[dict[str, Any]]:
    """Every agent labelled with ``run_id``."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = api_get(t, f"/api/v1/agents?per_page=500&page={page}")
        out.extend(a for a in body["data"] if a["labels"].get("run_id") == run_id)
        if page * 500 >= body["total"]:
            return out
        page += 1


PUSH_KINDS = ("task", "check", "inventory", "terminal", "query")


def push_args(**probs: float) -> list[str]:
    """``--push-<kind>-prob`` for every kind of push the target makes: 0 unless given."""
    return [arg for kind in PUSH_KINDS for arg in (f"--push-{kind}-prob", f"{probs.get(kind, 0):g}")]


@contextlib.contextmanager
def fleet_target(factory: pytest.TempPathFactory, name: str, *extra_args: str,
                 admin_key: str | None = ADMIN_KEY) -> Iterator[RunningTarget]:
    """A reference target on its own SQLite file, taking the fleet's token."""
    db = "sqlite:///" + str(factory.mktemp(name) / "t.db").lstrip("/")
    t = start_target(db, auth_secret=API_KEY, admin_key=admin_key, extra_args=extra_args)
    try:
        yield t
    finally:
        t.stop()


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    with fleet_target(tmp_path_factory, "fleetdb", *push_args()) as t:
        yield t


@pytest.fixture(scope="module")
def push_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    with fleet_target(tmp_path_factory, "pushdb", *push_args(task=1, check=1, inventory=1)) as t:
        yield t


@pytest.fixture(scope="module")
def pending_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    with fleet_target(tmp_path_factory, "pendb", "--no-auto-approve", admin_key=None) as t:
        yield t
