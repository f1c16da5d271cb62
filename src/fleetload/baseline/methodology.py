"""Is a comparison apples to apples? Differences in how two runs were made.

Numbers from another CPU, another length, another schedule, another fleetload
or another target can differ for reasons that have nothing to do with the
system under test, so ``compare`` warns about each such difference.
"""

from __future__ import annotations

from typing import Any

from fleetload.baseline.data import RunData

DURATION_TOLERANCE = 0.10


def _duration(run: RunData) -> float | None:
    d = run.meta.get("duration_s", (run.summary.get("run") or {}).get("elapsed"))
    return float(d) if isinstance(d, int | float) else None


def _host(run: RunData, key: str) -> Any:
    return (run.meta.get("host") or {}).get(key)


def _differs(what: str, base: Any, now: Any) -> str | None:
    if base == now:
        return None
    return f"{what} differs: baseline {base!r}, now {now!r}"


def _options_diff(base: dict[str, Any], now: dict[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(base) & set(now)):
        b, n = base[name] or {}, now[name] or {}
        keys = sorted(k for k in set(b) | set(n) if b.get(k) != n.get(k))
        if keys:
            detail = ", ".join(f"{k} {b.get(k)!r} -> {n.get(k)!r}" for k in keys)
            out.append(f"scenario {name} executor options differ: {detail}")
    return out


def methodology_warnings(base: RunData, now: RunData) -> list[str]:
    found: list[str | None] = [
        _differs("CPU model", _host(base, "cpu_model"), _host(now, "cpu_model")),
        _differs("CPU cores", _host(base, "cpu_count"), _host(now, "cpu_count")),
        _differs("usable CPU cores (affinity)", _host(base, "cpu_affinity"),
                 _host(now, "cpu_affinity")),
        _differs("fleetload version", _host(base, "fleetload_version"),
                 _host(now, "fleetload_version")),
        _differs("target", base.meta.get("target"), now.meta.get("target")),
        _differs("worker processes", base.meta.get("workers"), now.meta.get("workers")),
    ]
    bd, nd = _duration(base), _duration(now)
    if bd and nd and abs(nd - bd) / max(bd, nd) > DURATION_TOLERANCE:
        found.append(f"duration differs by more than {DURATION_TOLERANCE:.0%}: "
                     f"baseline {bd:.1f}s, now {nd:.1f}s")
    found.extend(_options_diff(base.meta.get("scenarios") or {}, now.meta.get("scenarios") or {}))
    return [w for w in found if w]
