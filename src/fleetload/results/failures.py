"""Why requests failed: the failure breakdown of each scenario in summary.json.

Every failed request is counted under its reason: the error class when there
was no response (``connection_refused``, ``timeout``, ``tls_error``...), else
its status (``429 Too Many Requests``). The counts come from the run's merged
``http_reqs`` series (tagged ``status``, ``error`` and ``expected_response``),
so they are exact across workers; beside each reason go the first distinct
response snippets the workers kept (redacted, capped) and the first
``Retry-After``. Iterations that raised are listed with their exception text.

A scenario whose failed requests are mostly 429s gets a ``rate_limited``
entry: the target is rate limiting the generator, which is a finding about
the test set-up as much as about the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetload.metrics.aggregate import Aggregate
from fleetload.metrics.failure_samples import ReasonSamples, SampleKey, failure_reason

MAX_REASONS = 10
RATE_LIMITED_SHARE = 0.5
"""429s above this share of a scenario's failed requests: "the target is rate limiting"."""


def _count_failed(agg: Aggregate, scenario: str) -> tuple[float, dict[tuple[int, str | None], float]]:
    """(all requests, failed requests per (status, error)) of one scenario."""
    total = 0.0
    failed: dict[tuple[int, str | None], float] = {}
    for (name, tags), value in agg.counters.items():
        if name != "http_reqs":
            continue
        t = dict(tags)
        if t.get("scenario") != scenario:
            continue
        total += value
        if t.get("expected_response") == "false":
            try:
                status = int(t.get("status", "0"))
            except ValueError:
                status = 0
            key = (status, t.get("error"))
            failed[key] = failed.get(key, 0.0) + value
    return total, failed


def failure_breakdown(agg: Aggregate, scenario: str,
                      samples: Mapping[SampleKey, ReasonSamples],
                      errors: Mapping[tuple[str, str], int]) -> dict[str, Any]:
    """The ``failures`` section of one scenario (see the module docstring)."""
    total, failed = _count_failed(agg, scenario)
    n_failed = sum(failed.values())
    reasons = []
    for (status, error), count in sorted(failed.items(), key=lambda kv: -kv[1]):
        reason = failure_reason(status, error)
        sample = samples.get((scenario, reason))
        reasons.append({
            "reason": reason, "status": status or None, "error": error, "count": count,
            "share": count / n_failed if n_failed else 0.0,
            "rate": count / total if total else 0.0,
            "samples": list(sample.snippets) if sample else [],
            "retry_after": sample.retry_after if sample else None,
        })
    mine = sorted(((text, n) for (sc, text), n in errors.items() if sc == scenario),
                  key=lambda kv: -kv[1])
    iteration_errors = [{"error": text, "count": n} for text, n in mine]
    limited = failed.get((429, None), 0.0)
    rate_limited = None
    if limited > RATE_LIMITED_SHARE * n_failed:
        sample = samples.get((scenario, failure_reason(429, None)))
        rate_limited = {"count": limited, "share": limited / n_failed,
                        "retry_after": sample.retry_after if sample else None}
    return {
        "requests": total,
        "requests_failed": n_failed,
        "reasons": reasons[:MAX_REASONS],
        "more_reasons": max(len(reasons) - MAX_REASONS, 0),
        "iteration_errors": iteration_errors[:MAX_REASONS],
        "rate_limited": rate_limited,
    }


def rate_limit_line(failures: Mapping[str, Any]) -> str | None:
    """One sentence when the target was rate limiting, else None."""
    limited = failures.get("rate_limited")
    if not limited:
        return None
    after = f" (Retry-After: {limited['retry_after']})" if limited.get("retry_after") else ""
    return (f"the target is rate limiting: {limited['count']:,.0f} of "
            f"{failures['requests_failed']:,.0f} failed requests were 429 Too Many Requests"
            f"{after}; raise or lift its limit for a load test, or lower the rate")


def failure_lines(failures: Mapping[str, Any], *, snippets: bool = True) -> list[str]:
    """The breakdown as text-summary lines."""
    lines = []
    n = failures.get("requests_failed") or 0
    if n:
        lines.append(f"{n:,.0f} of {failures['requests']:,.0f} requests failed:")
        for r in failures["reasons"]:
            after = f", Retry-After {r['retry_after']}" if r.get("retry_after") else ""
            lines.append(f"  {r['count']:>9,.0f}  {100 * r['share']:5.1f}%  {r['reason']}{after}")
            if snippets:
                lines.extend(f"             {s}" for s in r["samples"][:2])
        if failures.get("more_reasons"):
            lines.append(f"  ... {failures['more_reasons']} more reasons in summary.json")
    for e in failures.get("iteration_errors") or []:
        lines.append(f"  {e['count']:>9,}  iterations raised {e['error']}")
    line = rate_limit_line(failures)
    if line:
        lines.append(line)
    return lines


__all__ = ["failure_breakdown", "failure_lines", "rate_limit_line"]
