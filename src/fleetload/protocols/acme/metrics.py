"""The enrollment's custom metrics, declared by the load script that uses them.

Declaring is left to the script (``AcmeMetrics.declare()`` at module level)
because the loader collects custom metrics while it imports the script: a
module-level declaration here would run only on this module's first import.
"""

from __future__ import annotations

from dataclasses import dataclass

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
