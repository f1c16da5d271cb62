"""The baseline store: named copies of runs, ``<store>/<name>/``.

A baseline holds the files a comparison needs (summary, methodology, interval
log, timeline; observations and the text summary when present), plus
``baseline.json`` (name, run id, when it was recorded). It is an ordinary
run directory, so ``report``, ``runs show`` and ``compare`` read it as one.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from fleetload.baseline.data import require_conclusive
from fleetload.errors import FleetloadError
from fleetload.redact import scrub_credentials
from fleetload.results import rundir
from fleetload.results.observations import OBSERVATIONS
from fleetload.results.store import RunNotFound, is_run_dir, load_json

DEFAULT_STORE = Path("loadtest-baselines")
INFO = "baseline.json"
REQUIRED = (rundir.SUMMARY, rundir.META, rundir.HLOG, rundir.TIMELINE)
OPTIONAL = (rundir.SUMMARY_TXT, OBSERVATIONS)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise FleetloadError(f"invalid baseline name {name!r}: use letters, digits, '.', '_' "
                             "and '-' (at most 100, not starting with '.' or '-')")
    return name


def baseline_dir(name: str, store: Path) -> Path:
    """The directory of an existing baseline."""
    path = store / check_name(name)
    if not (path / rundir.SUMMARY).is_file():
        known = sorted(p.name for p in store.iterdir() if (p / rundir.SUMMARY).is_file()) \
            if store.is_dir() else []
        hint = f" (known: {', '.join(known)})" if known else ""
        raise RunNotFound(f"no baseline {name!r} in {store}{hint}")
    return path


def record_baseline(run_dir: Path, name: str, store: Path, *, force: bool = False,
                    allow_inconclusive: bool = False) -> Path:
    """Copy a finished run into the store under ``name``; refuses to replace an
    existing baseline unless ``force``, and an inconclusive run unless
    ``allow_inconclusive``."""
    check_name(name)
    if not is_run_dir(run_dir):
        raise RunNotFound(f"{run_dir} is not a run directory")
    missing = [f for f in REQUIRED if not (run_dir / f).is_file()]
    if missing:
        raise RunNotFound(f"{run_dir} lacks {', '.join(missing)}: only a finished run can be "
                          "a baseline")
    require_conclusive(load_json(run_dir / rundir.SUMMARY), run_dir, what="a baseline",
                       allow=allow_inconclusive)
    dest = store / name
    if dest.exists() and not force:
        raise FleetloadError(f"baseline {name!r} already exists in {store} "
                             "(use --force to replace it)")
    # Build next to the destination and swap, so a failed copy never leaves a
    # half-replaced baseline behind.
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for fname in REQUIRED + OPTIONAL:
        src = run_dir / fname
        if not src.is_file():
            continue
        if fname.endswith((".json", ".jsonl", ".txt")):
            text = src.read_text(encoding="utf-8")
            (tmp / fname).write_text(scrub_credentials(text), encoding="utf-8")
        else:
            shutil.copyfile(src, tmp / fname)
    summary = json.loads((tmp / rundir.SUMMARY).read_text(encoding="utf-8"))
    info = {"name": name, "run_id": (summary.get("run") or {}).get("id", run_dir.name),
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    rundir.write_json(tmp / INFO, info)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest
