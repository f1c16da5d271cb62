"""``check(value, {"name": predicate})``: named assertions with a pass rate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fleetload.metrics.kinds import make_tags
from fleetload.metrics.scope import current_scope


def check(value: Any, checks: Mapping[str, Callable[[Any], Any]],
          tags: Mapping[str, str] | None = None) -> bool:
    """Evaluate each predicate on ``value``; record each outcome in the
    ``checks`` rate tagged with the check's name. A predicate that raises
    counts as failed. Returns True when all passed."""
    scope = current_scope.get()
    all_ok = True
    for name, predicate in checks.items():
        try:
            ok = bool(predicate(value))
        except Exception:
            ok = False
        all_ok = all_ok and ok
        if scope is None:
            continue
        cache_key = (name, make_tags(dict(tags)) if tags else None)
        key = scope.check_keys.get(cache_key)
        if key is None:
            merged = dict(scope.tags)
            if tags:
                merged.update(tags)
            merged["check"] = name
            key = scope.check_keys[cache_key] = ("checks", make_tags(merged))
        scope.collector.add_rate(key, ok)
    return all_ok


__all__ = ["check"]
