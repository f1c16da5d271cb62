"""Helpers for the outputs' tests: a run's summary, and a run with extra outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).parent / "scripts"
MIXED = SCRIPTS / "mixed.py"


def summary_of(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return data


def scenario_totals(summary: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """(requests, failed requests) per scenario, from summary.json."""
    out = {}
    for name, sc in summary["scenarios"].items():
        reqs = sc["http_reqs"]
        out[name] = (reqs, round(sc["http_req_failed_rate"] * reqs))
    return out
