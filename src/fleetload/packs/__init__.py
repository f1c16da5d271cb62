"""Built-in load scripts, runnable by name (``fleetload run agent-storm``)."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def available() -> list[str]:
    return sorted(p.stem.replace("_", "-") for p in _HERE.glob("*.py") if not p.name.startswith("_"))


def pack_path(name: str) -> Path | None:
    path = _HERE / f"{name.replace('-', '_')}.py"
    return path if path.is_file() and not path.name.startswith("_") else None
