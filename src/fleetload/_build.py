"""Which build of fleetload is installed: the hot path compiled by mypyc, or
pure Python (``fleetload --version`` says which).

``COMPILED`` lists the modules setup.py compiles when it can, and
``compiler_missing`` tells whether it can; this module imports nothing of
fleetload's so that setup.py can run it too.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

#: The hot path's modules, compiled to C extensions by mypyc in a compiled build.
COMPILED = (
    "fleetload/protocols/http/prepared.py",
    "fleetload/protocols/http/response.py",
    "fleetload/protocols/http/connection.py",
    "fleetload/protocols/http/client.py",
    "fleetload/metrics/collector.py",
    "fleetload/metrics/http_series.py",
    "fleetload/engine/http_session.py",
    "fleetload/engine/runtime.py",
)

_ROOT = Path(__file__).resolve().parent.parent


def extension_of(source: str) -> Path | None:
    """The compiled module that Python imports instead of ``source`` (a path
    in ``COMPILED``), or None."""
    stem = _ROOT / source[: -len(".py")]
    for suffix in EXTENSION_SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.is_file():
            return path
    return None


def stale_modules() -> list[str]:
    """Compiled modules older than their source (an editable install whose
    sources changed since it was built: ``pip install -e .`` again)."""
    out = []
    for source in COMPILED:
        ext = extension_of(source)
        py = _ROOT / source
        if ext is not None and py.is_file() and py.stat().st_mtime > ext.stat().st_mtime:
            out.append(source)
    return out


def compiler_missing() -> str | None:
    """Why C extensions cannot be built here (no C compiler, no Python.h), or None."""
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if not cc or shutil.which(cc[0]) is None:
        return f"no C compiler ({' '.join(cc) or 'CC unset'})"
    include = sysconfig.get_paths().get("include") or ""
    if not (Path(include) / "Python.h").is_file():
        return f"no Python.h in {include or '(unknown include dir)'}"
    return None


def build() -> str:
    """``"compiled (mypyc)"`` when every hot-path module is a C extension,
    ``"pure Python"`` when none is, else ``"partly compiled (mypyc)"``."""
    n = sum(extension_of(source) is not None for source in COMPILED)
    if n == 0:
        return "pure Python"
    text = "compiled (mypyc)" if n == len(COMPILED) else "partly compiled (mypyc)"
    stale = stale_modules()
    if stale:
        text += f"; {len(stale)} compiled module(s) older than their source: rebuild"
    return text


__all__ = ["COMPILED", "build", "compiler_missing", "extension_of", "stale_modules"]
