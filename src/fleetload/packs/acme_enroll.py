"""acme-enroll: full ACME certificate enrollments per second, open loop.

    fleetload run acme-enroll --directory https://127.0.0.1:14000/dir --ca-cert ca.pem \\
        --rate 5 --ramp-to 50 --over 5m

Each iteration is one enrollment (RFC 8555): an account (new, or reused from a
pool of --max-accounts), a new order for 1..--max-names random names under
--domain-base, each authorization fetched and its challenge answered by an
in-process responder, the order finalized with a CSR, the chain downloaded,
then, sometimes, revoked (--revoke-chance) and its renewal-info fetched (--ari).
Arrivals follow the clock, as Boulder's load generator does: a slow CA makes
enrollments pile up in flight, it never slows the offered rate. See docs/acme.md.
"""

from typing import Any

from fleetload import VU, ConstantArrivalRate, Duration, RampingArrivalRate, param, scenario
from fleetload.protocols.acme import AcmeMetrics, Enrollment, EnrollmentConfig
from fleetload.protocols.acme.client import DEFAULT_BAD_NONCE_RETRIES
from fleetload.protocols.acme.flow import parse_contacts
from fleetload.protocols.acme.metrics import summary_section

DIRECTORY = param("directory", required=True, help="ACME directory URL")
RATE = param("rate", float, default=5.0, help="enrollments/s (the start rate with --ramp-to)")
RAMP_TO = param("ramp_to", float, help="ramp linearly from --rate to this rate over --over")
OVER = param("over", Duration, help="length of the ramp (default: --duration)")
DURATION = param("duration", Duration, default="1m", help="whole run")
MAX_IN_FLIGHT = param("max_in_flight", int, default=0,
                      help="cap on concurrent enrollments (0: one second of peak arrivals, "
                           "at least 100)")
P95 = param("p95", Duration, default="10s", help="threshold on the enrollment's p95")
MAX_FAILED = param("max_failed", float, default=0.01, help="threshold on the failed share")

config = EnrollmentConfig(
    directory=DIRECTORY,
    key_type=param("key_type", default="ec", help="account key: ec (ES256), rsa (RS256), "
                   "ed25519 (EdDSA)"),
    max_accounts=param("max_accounts", int, default=100,
                       help="accounts reused across enrollments (0: a new one each time)"),
    max_names=param("max_names", int, default=1, help="names per order: 1..N"),
    domain_base=param("domain_base", default="fleetload.test", help="names are <random>.BASE"),
    challenge=param("challenge", default="http-01", help="http-01 or tls-alpn-01"),
    http01_listen=param("http01_listen", default="127.0.0.1:5002",
                        help="http-01 responder address"),
    tls_alpn_listen=param("tls_alpn_listen", default="127.0.0.1:5001",
                          help="tls-alpn-01 responder address"),
    key_per_order=param("key_per_order", bool, default=False,
                        help="a new certificate key per order (default: one per run)"),
    revoke_chance=param("revoke_chance", float, default=0.0,
                        help="probability of revoking each issued certificate"),
    ari=param("ari", bool, default=False, help="fetch renewal-info (RFC 9773) when offered"),
    poll_interval=param("poll_interval", Duration, default="50ms",
                        help="first poll delay without Retry-After (grows by half up to 2s)"),
    poll_cap=param("poll_cap", Duration, default="10s", help="longest Retry-After honoured"),
    poll_timeout=param("poll_timeout", Duration, default="60s",
                       help="give up polling an authorization or order after this"),
    save_certs=param("save_certs", help="write each issued chain (and its names) here"),
    bad_nonce_retries=param("bad_nonce_retries", int, default=DEFAULT_BAD_NONCE_RETRIES,
                            help="retries of a request refused with badNonce, each with the "
                                 "fresh nonce the error carries (RFC 8555 6.5)"),
    contact=parse_contacts(param("contact", list,
                                 help="new-account contact URI, e.g. mailto:ops@example.com "
                                      "(repeatable or comma separated)")),
)

metrics = AcmeMetrics.declare()
enrollment = Enrollment(config, metrics)

# Open loop, linear ramp: the offered rate goes from --rate to --ramp-to over
# --over, then holds until --duration.
if RAMP_TO is not None:
    ramp = OVER or DURATION
    stages: list[tuple[float, float]] = [(ramp, RAMP_TO)]  # (seconds, target rate)
    if ramp < DURATION:
        stages.append((DURATION - ramp, RAMP_TO))
    executor = RampingArrivalRate(start_rate=RATE, stages=tuple(stages),
                                  max_in_flight=MAX_IN_FLIGHT, graceful_stop="60s")
else:
    executor = ConstantArrivalRate(rate=RATE, duration=f"{DURATION}s",
                                   max_in_flight=MAX_IN_FLIGHT, graceful_stop="60s")

# The challenge responders listen on one port per host: one process only.
max_workers = 1

options = {"timeout": "60s"}

thresholds = {
    "acme_enrollment_duration": [f"p(95)<{P95 * 1000:g}"],
    "acme_enrollment_failed": [f"rate<{MAX_FAILED:g}"],
}


@scenario(executor)
async def enroll(vu: VU) -> None:
    await enrollment.run(vu)


async def teardown(ctx: Any, data: Any) -> None:
    await enrollment.close()


def handle_summary(summary: dict[str, Any], view: Any) -> dict[str, Any]:
    # problems by type, protocol errors by detail, signing cost: summary.json "acme"
    return summary_section(view)
