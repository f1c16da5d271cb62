"""The compiled build and its pure-Python fallback (setup.py): the hot path is
compiled by mypyc when a C compiler is present, and the same package without
one is pure Python and works."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from fleetload import _build
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_this_install_is_compiled_when_a_c_compiler_is_present() -> None:
    import fleetload.protocols.http.connection as conn

    pure = os.environ.get("FLEETLOAD_PURE_PYTHON", "").strip() not in ("", "0")
    if _build.compiler_missing() is None and not pure:
        assert _build.build() == "compiled (mypyc)"
        assert conn.__file__ is not None and conn.__file__.endswith(tuple(EXTENSION_SUFFIXES))
        stale = _build.stale_modules()
        assert not stale, f"compiled modules older than their source, run pip install -e .: {stale}"
    else:
        assert _build.build() == "pure Python"
        assert conn.__file__ is not None and conn.__file__.endswith(".py")


def test_version_names_the_build() -> None:
    r = run_cli("--version")
    assert r.code == 0
    assert r.stdout.strip().endswith(_build.build())


# Imported from the unpacked wheel: the hot modules are the .py files, and a
# GET against a server on the loopback works through them.
_CHECK = r'''
import asyncio, sys
from fleetload import _build
import fleetload.protocols.http.connection as conn
from fleetload.protocols.http import HttpClient

assert conn.__file__.startswith(sys.argv[1]) and conn.__file__.endswith(".py"), conn.__file__
assert _build.build() == "pure Python", _build.build()

async def serve(reader, writer):
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with HttpClient() as client:
        r = await client.request("GET", f"http://127.0.0.1:{port}/")
    server.close()
    print(r.status, r.body.decode(), r.error)

asyncio.run(main())
'''


def test_without_a_c_compiler_the_wheel_is_pure_python_and_works(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FLEETLOAD_PURE_PYTHON",
                                                              "PYTHONPATH")}
    env["CC"] = str(tmp_path / "no-such-cc")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, env=env, timeout=300, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheels = list((tmp_path / "dist").glob("fleetload-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    with zipfile.ZipFile(wheels[0]) as whl:
        names = whl.namelist()
        assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))]
        for source in _build.COMPILED:
            assert source in names
        whl.extractall(tmp_path / "site")
    site = str(tmp_path / "site")
    env["PYTHONPATH"] = site
    r = subprocess.run([sys.executable, "-c", _CHECK, site], capture_output=True, text=True,
                       env=env, timeout=60, check=False, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["200", "ok", "None"]
