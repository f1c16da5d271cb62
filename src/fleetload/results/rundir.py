"""The run directory: everything a run measured, durable and self-describing.

    results/<run-id>/
      meta.json        methodology: host, versions, options, target, commit, times
      summary.json     k6 summary-export shape + run, meta and scenario sections
      summary.txt      the printed summary
      intervals.hlog   HdrHistogram interval log, one line per series per second
      timeline.jsonl   per-second, per-scenario numbers
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

META = "meta.json"
SUMMARY = "summary.json"
SUMMARY_TXT = "summary.txt"
HLOG = "intervals.hlog"
TIMELINE = "timeline.jsonl"


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(2)}"


def create_run_dir(run_id: str, *, out: Path | None, root: Path) -> Path:
    path = out if out is not None else root / run_id
    path.mkdir(parents=True, exist_ok=True)
    if any(path.glob(SUMMARY)):
        raise FileExistsError(f"{path} already holds a run (summary.json); choose another --out")
    return path


def write_json(path: Path, data: Any) -> None:
    """Write atomically: a crash mid-write never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_default) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)
