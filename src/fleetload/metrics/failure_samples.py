"""The first distinct responses of every failure reason, per scenario.

Counts say *how many* requests failed; a person also needs to read *why*. A
worker keeps, for each scenario and reason (an HTTP status such as ``429 Too
Many Requests``, or an error class such as ``connection_refused``), the first
few distinct response snippets, redacted and capped, and the first
``Retry-After`` the target sent. Only failing responses get here, so a run
without failures pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from fleetload.redact import redact_text

MAX_SNIPPETS = 3
"""Distinct snippets kept per scenario and reason."""
MAX_REASONS = 32
"""Reasons with snippets kept per worker (counts are kept for every reason)."""
MAX_EXAMINED = 16
"""Responses read per scenario and reason before it stops looking: identical
bodies repeat, and reading each one at a high failure rate would cost CPU."""
SNIPPET_CHARS = 200
_BODY_BYTES = 2048


@lru_cache(maxsize=256)
def status_reason(status: int) -> str:
    """``429 Too Many Requests``: a status code with its standard phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def failure_reason(status: int, error: str | None) -> str:
    """What a failed request is grouped under: its error class when it got no
    response (``connection_refused``, ``timeout``...), else its status."""
    return error if error else status_reason(status)


def snippet_of(resp: Any) -> str:
    """A short, single-line, redacted view of a failed response: the error
    detail when there was no response, else the start of its body."""
    if resp.error:
        text = str(resp.error_detail or resp.error)
    else:
        body = bytes(resp.body[:_BODY_BYTES]) if resp.body else b""
        text = body.decode("utf-8", "replace") if body else "(empty body)"
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


@dataclass(slots=True)
class ReasonSamples:
    """Snippets and the first Retry-After of one (scenario, reason)."""

    snippets: list[str] = field(default_factory=list)
    retry_after: str | None = None
    examined: int = 0

    def merge(self, other: ReasonSamples) -> None:
        for s in other.snippets:
            if len(self.snippets) >= MAX_SNIPPETS:
                break
            if s not in self.snippets:
                self.snippets.append(s)
        if self.retry_after is None:
            self.retry_after = other.retry_after


SampleKey = tuple[str, str]
"""(scenario, reason)"""


class FailureSamples:
    """One worker's samples; handed to the parent with the last snapshot."""

    __slots__ = ("by_key", "full")

    def __init__(self) -> None:
        self.by_key: dict[SampleKey, ReasonSamples] = {}
        self.full: set[SampleKey] = set()

    def add(self, scenario: str, resp: Any) -> None:
        key = (scenario, failure_reason(resp.status, resp.error))
        if key in self.full:
            return
        entry = self.by_key.get(key)
        if entry is None:
            if len(self.by_key) >= MAX_REASONS:
                return
            entry = self.by_key[key] = ReasonSamples()
        text = snippet_of(resp)
        if text not in entry.snippets:
            entry.snippets.append(text)
        if entry.retry_after is None and resp.status:
            value = resp.headers.get("retry-after")
            if value:
                entry.retry_after = redact_text(str(value))[:40]
        entry.examined += 1
        if len(entry.snippets) >= MAX_SNIPPETS or entry.examined >= MAX_EXAMINED:
            self.full.add(key)


def merge_samples(into: dict[SampleKey, ReasonSamples],
                  other: dict[SampleKey, ReasonSamples]) -> None:
    for key, samples in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = ReasonSamples(list(samples.snippets[:MAX_SNIPPETS]), samples.retry_after)
        else:
            mine.merge(samples)


__all__ = ["FailureSamples", "ReasonSamples", "SampleKey", "failure_reason", "merge_samples",
           "snippet_of", "status_reason"]
