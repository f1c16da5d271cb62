"""Stages as k6 writes them: ``[{"duration": "30s", "target": 50}, ...]``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from fleetload.durations import parse_duration
from fleetload.errors import ConfigError


class Stage(NamedTuple):
    duration: float | str
    target: float


def normalize_stages(raw: Any, *, integer_targets: bool) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise ConfigError("stages must be a non-empty list of {duration, target}")
    out: list[tuple[float, float]] = []
    for i, stage in enumerate(raw):
        if isinstance(stage, Mapping):
            if set(stage) - {"duration", "target"} or "duration" not in stage or "target" not in stage:
                raise ConfigError(f"stage {i + 1} must have exactly 'duration' and 'target', got {dict(stage)}")
            duration, target = stage["duration"], stage["target"]
        elif isinstance(stage, Sequence) and not isinstance(stage, str) and len(stage) == 2:
            duration, target = stage
        else:
            raise ConfigError(f"stage {i + 1} must be {{duration, target}} or (duration, target), got {stage!r}")
        seconds = parse_duration(duration, what=f"stage {i + 1} duration")
        if isinstance(target, bool) or not isinstance(target, int | float) or target < 0:
            raise ConfigError(f"stage {i + 1} target must be a number >= 0, got {target!r}")
        if integer_targets and not float(target).is_integer():
            raise ConfigError(f"stage {i + 1} target must be a whole number of VUs, got {target!r}")
        out.append((seconds, float(target)))
    return tuple(out)
