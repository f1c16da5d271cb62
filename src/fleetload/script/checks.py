"""``check(value, {"name": predicate})``: named assertions with a pass rate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fleetload.engine.vu import current_vu
from fleetload.metrics.kinds import make_tags


def check(value: Any, checks: Mapping[str, Callable[[Any], Any]],
          tags: Mapping[str, str] | None = None) -> bool:
    """Evaluate each predicate on ``value``; record each outcome in the
    ``checks`` rate tagged with the check's name. A predicate that raises
    counts as failed. Returns True when all passed."""
    vu = current_vu.get()
    all_ok = True
    for name, predicate in checks.items():
        try:
            ok = bool(predicate(value))
        except Exception:
            ok = False
        all_ok = all_ok and ok
        if vu is None:
            continue
        rt = vu._rt
        cache_key = (name, make_tags(dict(tags)) if tags else None)
        key = rt.check_keys.get(cache_key)
        if key is None:
            merged = dict(rt.tags)
            if tags:
                merged.update(tags)
            merged["check"] = name
            key = rt.check_keys[cache_key] = ("checks", make_tags(merged))
        rt.collector.add_rate(key, ok)
    return all_ok
