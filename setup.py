"""fleetload's build: the pure-Python package, with the HTTP hot path compiled
by mypyc when it can be.

The modules in ``COMPILED`` are compiled to C extensions with
``mypyc.build.mypycify`` when mypyc (part of mypy, a build requirement) and a
C compiler with Python's headers are present. Anything else gives the
pure-Python package, which behaves the same, only slower: no compiler, no
mypyc, a type-check or compile error, or ``FLEETLOAD_PURE_PYTHON=1``. Which
build is installed: ``fleetload --version``.

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent

# src/fleetload/_build.py, run without importing fleetload (nor its dependencies)
_BUILD = runpy.run_path(str(ROOT / "src" / "fleetload" / "_build.py"))
#: The hot path.
COMPILED = [f"src/{m}" for m in _BUILD["COMPILED"]]


def _note(msg: str) -> None:
    print(f"fleetload build: {msg}", file=sys.stderr, flush=True)


#: Commands that build the extensions; the others (pip's metadata step, sdist)
#: need no compilation and skip mypyc's type-check.
_BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop",
           "bdist_egg"}


def _mypyc_extensions() -> list[Any]:
    if not _BUILDS.intersection(sys.argv[1:]):
        return []
    if os.environ.get("FLEETLOAD_PURE_PYTHON", "").strip() not in ("", "0"):
        _note("FLEETLOAD_PURE_PYTHON is set: pure-Python build")
        return []
    why = _BUILD["compiler_missing"]()
    if why is not None:
        _note(f"{why}: pure-Python build")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _note("mypyc is not installed: pure-Python build")
        return []
    # mypyc type-checks with pyproject.toml's [tool.mypy] (pip builds from this
    # directory), blind to installed packages: a fresh virtualenv builds the
    # package before installing its dependencies, and the compiled modules must
    # not depend on what happens to be installed. Errors outside them do not
    # stop the build (the full type-check is `mypy`'s job).
    mypy_flags = ["--no-site-packages", "--ignore-missing-imports", "--follow-imports=silent"]
    try:
        return list(mypycify([*mypy_flags, *COMPILED], opt_level="3", debug_level="0",
                             group_name="fleetload_hot"))
    except (Exception, SystemExit) as exc:  # mypyc exits on type errors
        _note(f"mypyc failed ({exc!r}): pure-Python build")
        return []


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure-Python package when the C
    compilation fails (the .py modules stay in the package either way)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            _note(f"compiling the hot path failed ({exc!r}): pure-Python build")
            self._remove_outputs()

    def _remove_outputs(self) -> None:
        for ext in self.extensions:
            for path in (Path(self.get_ext_fullpath(ext.name)),
                         Path(self.build_lib) / self.get_ext_filename(ext.name)):
                if path.exists():
                    path.unlink()
        self.extensions = []


setup(ext_modules=_mypyc_extensions(), cmdclass={"build_ext": OptionalBuildExt})
