"""What can go wrong in an ACME exchange, as two exception kinds.

- :class:`ProblemError`: the server answered with an RFC 7807 problem document
  (``application/problem+json``): the server is speaking ACME, and says no.
  Counted by problem ``type``.
- :class:`ProtocolError`: the server did not speak ACME as RFC 8555 says
  (malformed JSON, a missing ``Location`` or ``Replay-Nonce``, an unexpected
  status without a problem document, a network failure). Counted by a short
  ``detail`` such as ``new-order: missing Location``, so the tag's values stay
  few: step x reason, never a URL or a server message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fleetload.protocols.http import Response

BAD_NONCE = "urn:ietf:params:acme:error:badNonce"
PROBLEM_CONTENT_TYPE = "application/problem+json"
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Problem:
    type: str
    detail: str = ""
    status: int = 0
    subproblems: tuple[Problem, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return f"{self.type}: {self.detail}" if self.detail else self.type


class AcmeError(Exception):
    """Base of every failure the enrollment counts and fails on."""


class ProblemError(AcmeError):
    def __init__(self, step: str, problem: Problem) -> None:
        super().__init__(f"{step}: {problem}"[:_MAX_DETAIL])
        self.step = step
        self.problem = problem


class ProtocolError(AcmeError):
    def __init__(self, step: str, reason: str, info: str = "") -> None:
        self.detail = f"{step}: {reason}"
        super().__init__(f"{self.detail} ({info})"[:_MAX_DETAIL] if info else self.detail)
        self.step = step
        self.reason = reason


def _problem_from(data: Any, status: int) -> Problem | None:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    subs = tuple(p for p in (_problem_from(s, status) for s in data.get("subproblems") or ()
                             if isinstance(data.get("subproblems"), list)) if p is not None)
    detail = data.get("detail")
    return Problem(data["type"], detail if isinstance(detail, str) else "", status, subs)


def parse_problem(resp: Response) -> Problem | None:
    """The problem document of an error response, or None when there is none.

    The content type is not required: some servers send problems as
    ``application/json``; a JSON object with a string ``type`` is enough.
    """
    if not resp.body:
        return None
    try:
        data = json.loads(resp.body)
    except ValueError:
        return None
    return _problem_from(data, resp.status)


def problem_from_object(data: Any) -> Problem | None:
    """An ``error`` member of an authorization's challenge (same shape)."""
    return _problem_from(data, 0)
