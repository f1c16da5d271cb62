"""fleetload installs the way users install tools: a wheel built from this
checkout, installed with pipx into a fresh virtual environment, gives a
working ``fleetload`` without the reference target's stack.

The wheel is the pure-Python build (``FLEETLOAD_PURE_PYTHON=1``: quick to
build, and the fallback of machines without a C compiler); test_build.py
checks the compiled one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.nginx import nginx_server

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=cwd, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``fleetload`` command of a pipx install of a freshly built wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                 str(tmp / "dist"), str(ROOT), cwd=tmp,
                 env=dict(os.environ, FLEETLOAD_PURE_PYTHON="1"))
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheels = list((tmp / "dist").glob("fleetload-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PIPX_HOME=str(tmp / "pipx"), PIPX_BIN_DIR=str(tmp / "bin"),
               PIPX_MAN_DIR=str(tmp / "man"))
    inst = _run(sys.executable, "-m", "pipx", "install", "--python", sys.executable,
                str(wheels[0]), env=env, timeout=900)
    assert inst.returncode == 0, inst.stdout[-2000:] + inst.stderr[-2000:]
    exe = tmp / "bin" / "fleetload"
    assert exe.exists()
    return exe


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}


def test_the_core_install_runs_a_one_liner_against_nginx(installed: Path, tmp_path: Path) -> None:
    with nginx_server(tmp_path, 'location / { return 200 "ok"; }', access_log=True) as url:
        out = tmp_path / "run"
        r = _run(str(installed), "run", "--url", url + "/", "--rate", "50", "--duration", "1s",
                 "--quiet", "--out", str(out), env=_clean_env(), cwd=tmp_path)
        assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["http_reqs"]["values"]["count"] == 50
    served = (tmp_path / "access.log").read_text().splitlines()
    assert len(served) == 50 + 1  # the run's requests and its preflight probe
    assert "verdict: PASSED (exit 0)" in r.stdout


def test_the_core_install_has_no_target_stack(installed: Path) -> None:
    venv_python = installed.resolve().parent / "python"
    r = _run(str(venv_python), "-c", "import starlette", env=_clean_env())
    assert r.returncode != 0 and "ModuleNotFoundError" in r.stderr
    t = _run(str(installed), "target", env=_clean_env())
    assert t.returncode == 2
    assert t.stderr.strip() == ("fleetload: error: 'fleetload target' needs the 'target' extra "
                                "(missing module uvicorn): pip install 'fleetload[target]'")


def test_the_wheel_is_the_pure_python_build(installed: Path) -> None:
    r = _run(str(installed), "--version", env=_clean_env())
    assert r.returncode == 0 and r.stdout.strip().endswith(", pure Python"), r.stdout


def test_completion_scripts(installed: Path) -> None:
    for shell, marker in (("bash", "_fleetload_completion()"), ("zsh", "#compdef fleetload"),
                          ("fish", "complete --no-files --command fleetload")):
        r = _run(str(installed), "completion", shell, env=_clean_env())
        assert r.returncode == 0, r.stderr
        assert marker in r.stdout
