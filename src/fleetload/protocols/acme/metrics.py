"""The enrollment's custom metrics, declared by the load script that uses them.

Declaring is left to the script (``AcmeMetrics.declare()`` at module level)
because the loader collects custom metrics while it imports the script: a
module-level declaration here would run only on this module's first import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetload.script.metrics import Counter, Rate, Trend

STEPS = ("new_account", "new_order", "authz", "challenge", "finalize", "cert_download",
         "revoke", "ari")


@dataclass(frozen=True)
class AcmeMetrics:
    steps: dict[str, Trend]
    enrollment: Trend
    enrollments: Counter
    failed: Rate
    problems: Counter
    protocol_errors: Counter
    sign: Trend
    new_nonce: Counter

    @classmethod
    def declare(cls) -> AcmeMetrics:
        return cls(
            steps={s: Trend(f"acme_{s}", description=f"ACME {s.replace('_', '-')} step")
                   for s in STEPS},
            enrollment=Trend("acme_enrollment_duration",
                             description="whole enrollment, account to certificate"),
            enrollments=Counter("acme_enrollments", description="certificates issued"),
            failed=Rate("acme_enrollment_failed", description="share of failed enrollments"),
            problems=Counter("acme_problems", description="problem documents, by type"),
            protocol_errors=Counter("acme_protocol_errors",
                                    description="RFC 8555 violations, by detail"),
            sign=Trend("acme_jws_sign", description="time to sign one JWS (generator CPU)"),
            new_nonce=Counter("acme_new_nonce_fetches",
                              description="new-nonce round trips (nonce pool empty)"),
        )

    def problem(self, type_: str) -> None:
        self.problems.add(1, tags={"type": type_})

    def protocol_error(self, detail: str) -> None:
        self.protocol_errors.add(1, tags={"detail": detail})


def summary_section(view: Any) -> dict[str, Any]:
    """The ``acme`` section of summary.json: problems by type, protocol errors
    by detail, and the generator's signing cost (``view`` is the engine's
    SummaryView, passed to the script's ``handle_summary``)."""
    def counts(metric: str, tag: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for value in view.tag_values(metric, tag):
            v = view.values(metric, {tag: value})
            if v:
                out[value] = v.get("count", 0.0)
        return out

    sign = view.values("acme_jws_sign") or {}
    enrollments = (view.values("acme_enrollments") or {}).get("count", 0.0)
    signs = sign.get("count", 0.0)
    sign_ms = sign.get("avg", 0.0) * signs
    problems = counts("acme_problems", "type")
    protocol_errors = counts("acme_protocol_errors", "detail")
    per_enrollment = round(sign_ms / enrollments, 3) if enrollments else None
    text = [f"enrollments: {enrollments:,.0f}; signing {sign.get('avg', 0.0) * 1000:.0f} µs per JWS"
            + (f", {per_enrollment} ms per enrollment" if per_enrollment is not None else "")]
    text += [f"problem {name}: {n:,.0f}" for name, n in sorted(problems.items())]
    text += [f"protocol error {name}: {n:,.0f}" for name, n in sorted(protocol_errors.items())]
    return {"acme": {
        "enrollments": enrollments,
        "problems": problems,
        "protocol_errors": protocol_errors,
        "signing": {"signatures": signs, "total_ms": round(sign_ms, 3),
                    "avg_us": round(sign.get("avg", 0.0) * 1000, 2),
                    "per_enrollment_ms": per_enrollment},
    }, "text_sections": {"acme": text}}
