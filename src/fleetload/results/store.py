"""Finding and listing runs in a results folder.

A run directory is self-describing (``meta.json`` is written when the run
starts, ``summary.json`` when it ends), so any folder of run directories is a
store: ``results/`` by default, or a repository's ``loadtest-artifacts/``.
Listing reads only those two small JSON files per run, never the interval log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetload.errors import FleetloadError
from fleetload.results import rundir


class RunNotFound(FleetloadError):
    """An unknown or ambiguous run id, or a directory that holds no run."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    path: Path
    run_id: str
    started_at: str
    source: str
    duration_s: float | None
    verdict: str
    exit_code: int | None


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / rundir.META).is_file() or (path / rundir.SUMMARY).is_file())


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_info(path: Path) -> RunInfo:
    """What ``fleetload runs`` shows for one run directory. A run still going
    (or killed) has a meta.json but no summary.json: its verdict says so."""
    meta = _load(path / rundir.META) or {}
    summary = _load(path / rundir.SUMMARY)
    run: dict[str, Any] = (summary or {}).get("run") or {}
    if summary is None:
        verdict = "incomplete" if meta else "unreadable"
    else:
        verdict = str(run.get("verdict", "unknown"))
    duration = meta.get("duration_s", run.get("elapsed"))
    exit_code = run.get("exit_code")
    return RunInfo(
        path=path,
        run_id=str(meta.get("run_id") or run.get("id") or path.name),
        started_at=str(meta.get("started_at") or run.get("started_at") or ""),
        source=str(meta.get("source") or run.get("source") or ""),
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        verdict=verdict,
        exit_code=int(exit_code) if isinstance(exit_code, int) else None,
    )


def list_runs(root: Path) -> list[RunInfo]:
    """Runs directly under ``root``, newest first (ISO timestamps sort as text)."""
    if not root.is_dir():
        return []
    runs = [run_info(p) for p in root.iterdir() if is_run_dir(p)]
    runs.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return runs


def resolve_run(ref: str, root: Path) -> Path:
    """A run directory from a path, a run id or a unique prefix of one.

    A path wins when it exists, so ``results/2026...`` and ``./my-run`` both work
    whatever ``root`` is.
    """
    as_path = Path(ref)
    if as_path.is_dir():
        if is_run_dir(as_path):
            return as_path
        raise RunNotFound(f"{ref} is not a run directory (no {rundir.META} or {rundir.SUMMARY})")
    if not root.is_dir():
        raise RunNotFound(f"no run {ref!r}: results folder {root} does not exist "
                          "(use --results-dir)")
    exact = root / ref
    if is_run_dir(exact):
        return exact
    # The directory name is the run id unless --out chose another: match both.
    matches = sorted(p for p in root.iterdir() if is_run_dir(p)
                     and (p.name.startswith(ref) or _run_id(p).startswith(ref)))
    if not matches:
        raise RunNotFound(f"no run {ref!r} in {root} (see 'fleetload runs --results-dir {root}')")
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise RunNotFound(f"run id prefix {ref!r} is ambiguous in {root}: {names}")
    return matches[0]


def _run_id(path: Path) -> str:
    meta = _load(path / rundir.META) or {}
    return str(meta.get("run_id") or "")


def load_json(path: Path) -> dict[str, Any]:
    data = _load(path)
    if data is None:
        raise RunNotFound(f"{path} is missing or not valid JSON")
    return data
