"""The enrollment's custom metrics, declared by the load script that uses them.

Declaring is left to the script (``AcmeMetrics.declare()`` at module level)
because the loader collects custom metrics while it imports the script: a
module-level declaration here would run only on this module's first import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetload.metrics.custom import Counter, Rate, Trend
from fleetload.protocols.acme.problems import Problem

STEPS = ("new_account", "new_order", "authz", "challenge", "finalize", "cert_download",
         "revoke", "ari")
MAX_DETAILS = 20
"""Distinct problem details kept per process: a server that puts a name or a
token in every detail must not grow the metric's series without limit."""
OTHER_DETAIL = "(more distinct details than kept)"
_DETAIL_CHARS = 200


@dataclass(frozen=True)
class AcmeMetrics:
    steps: dict[str, Trend]
    enrollment: Trend
    enrollments: Counter
    failed: Rate
    problems: Counter
    protocol_errors: Counter
    problem_details: Counter
    bad_nonce_retries: Counter
    sign: Trend
    new_nonce: Counter
    _details: set[str] = field(default_factory=set, compare=False)

    @classmethod
    def declare(cls) -> AcmeMetrics:
        return cls(
            steps={s: Trend(f"acme_{s}", description=f"ACME {s.replace('_', '-')} step")
                   for s in STEPS},
            enrollment=Trend("acme_enrollment_duration",
                             description="whole enrollment, account to certificate"),
            enrollments=Counter("acme_enrollments", description="certificates issued"),
            failed=Rate("acme_enrollment_failed", description="share of failed enrollments"),
            problems=Counter("acme_problems",
                             description="problem documents that failed a step, by type"),
            problem_details=Counter("acme_problem_details",
                                    description="the same problems by step, type and detail"),
            bad_nonce_retries=Counter("acme_bad_nonce_retries",
                                      description="requests sent again after badNonce"),
            protocol_errors=Counter("acme_protocol_errors",
                                    description="RFC 8555 violations, by detail"),
            sign=Trend("acme_jws_sign", description="time to sign one JWS (generator CPU)"),
            new_nonce=Counter("acme_new_nonce_fetches",
                              description="new-nonce round trips (nonce pool empty)"),
        )

    def problem(self, step: str, problem: Problem) -> None:
        """Count a problem that failed ``step``, by type and by (step, type, detail)."""
        self.problems.add(1, tags={"type": problem.type})
        detail = " ".join(problem.detail.split())[:_DETAIL_CHARS]
        if detail not in self._details:
            if len(self._details) >= MAX_DETAILS:
                detail = OTHER_DETAIL
            else:
                self._details.add(detail)
        self.problem_details.add(1, tags={"step": step, "type": problem.type, "detail": detail})

    def protocol_error(self, detail: str) -> None:
        self.protocol_errors.add(1, tags={"detail": detail})


def _problem_details(view: Any) -> list[dict[str, Any]]:
    """Every (step, type, detail) of ``acme_problem_details`` with its count."""
    out: list[dict[str, Any]] = []
    metric = "acme_problem_details"
    for type_ in view.tag_values(metric, "type"):
        for step in view.tag_values(metric, "step"):
            for detail in view.tag_values(metric, "detail"):
                v = view.values(metric, {"type": type_, "step": step, "detail": detail})
                if v and v.get("count"):
                    out.append({"step": step, "type": type_, "detail": detail,
                                "count": v["count"]})
    return sorted(out, key=lambda d: (-d["count"], d["type"], d["step"], d["detail"]))


def summary_section(view: Any) -> dict[str, Any]:
    """The ``acme`` section of summary.json: problems by type and by (step, type,
    detail), badNonce retries, protocol errors by detail, and the generator's
    signing cost (``view`` is the engine's SummaryView, passed to the script's
    ``handle_summary``)."""
    def counts(metric: str, tag: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for value in view.tag_values(metric, tag):
            v = view.values(metric, {tag: value})
            if v:
                out[value] = v.get("count", 0.0)
        return out

    sign = view.values("acme_jws_sign") or {}
    enrollments = (view.values("acme_enrollments") or {}).get("count", 0.0)
    retries = (view.values("acme_bad_nonce_retries") or {}).get("count", 0.0)
    signs = sign.get("count", 0.0)
    sign_ms = sign.get("avg", 0.0) * signs
    problems = counts("acme_problems", "type")
    details = _problem_details(view)
    protocol_errors = counts("acme_protocol_errors", "detail")
    per_enrollment = round(sign_ms / enrollments, 3) if enrollments else None
    text = [f"enrollments: {enrollments:,.0f}; signing {sign.get('avg', 0.0) * 1000:.0f} µs per JWS"
            + (f", {per_enrollment} ms per enrollment" if per_enrollment is not None else "")]
    if retries:
        text.append(f"badNonce retries: {retries:,.0f} (absorbed, not failures)")
    for name, n in sorted(problems.items()):
        text.append(f"problem {name}: {n:,.0f}")
        text += [f"  {d['count']:,.0f} at {d['step']}: {d['detail'] or '(no detail)'}"
                 for d in details if d["type"] == name]
    text += [f"protocol error {name}: {n:,.0f}" for name, n in sorted(protocol_errors.items())]
    return {"acme": {
        "enrollments": enrollments,
        "problems": problems,
        "problem_details": details,
        "bad_nonce_retries": retries,
        "protocol_errors": protocol_errors,
        "signing": {"signatures": signs, "total_ms": round(sign_ms, 3),
                    "avg_us": round(sign.get("avg", 0.0) * 1000, 2),
                    "per_enrollment_ms": per_enrollment},
    }, "text_sections": {"acme": text}}
