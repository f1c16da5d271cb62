"""token-storm: OAuth 2.0 client-credentials token requests at 50/s for 5 minutes against a token endpoint.

Models what a device fleet does to its identity provider: every device (or
service) fetches an access token with the ``client_credentials`` grant
(RFC 6749 §4.4) when it starts and whenever its token expires, and a fleet
restarting at once turns that into a storm. Open loop at ``--rate`` token
requests/s: ``POST --token-url`` with ``grant_type=client_credentials``
(form-encoded), the client authenticated with ``client_secret_basic`` (HTTP
Basic, the default) or ``client_secret_post`` (``--auth-method``).

    fleetload run token-storm --token-url https://idp:8443/oauth/token \\
        --client-id device --client-secret "$SECRET" --rate 100 --duration 1m
    fleetload run token-storm ... --clients 50 --scope 'fleet:read'

``--clients N`` spreads the requests round robin over the clients
``<client-id>-1`` .. ``<client-id>-N`` (all with the same secret). A request
passes when the answer is 200 JSON with ``access_token``, ``token_type``
``Bearer`` (any case) and ``expires_in``. The secret is never written: the
recorded command line masks it, and nothing else holds it. The ``token_storm``
summary section counts tokens issued and failures by OAuth ``error`` code
(``invalid_client``, ``invalid_scope``, ... or ``http_<status>``, or the
transport error).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode, urljoin, urlsplit

from fleetload import (
    VU,
    ConfigError,
    ConstantArrivalRate,
    Counter,
    Duration,
    Rate,
    Trend,
    check,
    param,
    scenario,
)
from fleetload.packs import _common
from fleetload.redact import redact_url

SECRET_ENV = "FLEETLOAD_OAUTH_CLIENT_SECRET"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")

TOKEN_URL = param("token_url", str, required=True,
                  help="the token endpoint (absolute, or a path on --target)")
CLIENT_ID = param("client_id", str, required=True, help="OAuth client id")
CLIENT_SECRET = param("client_secret", str,
                      help=f"the client secret (or the environment variable {SECRET_ENV})")
AUTH_METHOD = param("auth_method", str, default="client_secret_basic",
                    help="client_secret_basic | client_secret_post")
SCOPE = param("scope", str, help="scope to request (space separated)")
CLIENTS = param("clients", int, default=1,
                help="spread requests over <client-id>-1..N (1: the client id as given)")
RATE = param("rate", float, default=50.0, help="token requests per second")
DURATION = param("duration", Duration, default="5m")
P95 = param("p95", Duration, default="500ms", help="p95 bound of a token request")
P99 = param("p99", Duration, default="1s", help="p99 bound of a token request")
FAILED_RATE = param("failed_rate", float, default=0.01,
                    help="bound of the share of requests that yield no token")
TARGET = param("target", str)


def resolve_token_url(url: str, target: str | None) -> str:
    if url.startswith(("https://", "http://")):
        return url
    if target and url.startswith("/"):
        return urljoin(target.rstrip("/") + "/", url.lstrip("/"))
    raise ConfigError(f"--token-url: expected an http(s) URL (or a /path with --target), "
                      f"got {url!r}")


@dataclass(frozen=True)
class ClientRequest:
    """The headers and form body of one client's token request, built once."""

    client_id: str
    headers: dict[str, str]
    body: bytes


def client_request(client_id: str, secret: str, method: str, scope: str | None) -> ClientRequest:
    """RFC 6749 §2.3.1: Basic credentials are the form-encoded id and secret."""
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if method == "client_secret_basic":
        pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        form.update(client_id=client_id, client_secret=secret)
    return ClientRequest(client_id, headers, urlencode(form).encode())


_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def read_token(status: int, transport_error: str | None,
               body: bytes) -> tuple[float | None, str | None]:
    """``(lifetime, None)`` when the answer is a token: 200 JSON with
    ``access_token``, ``token_type`` Bearer and ``expires_in`` (seconds);
    otherwise ``(None, label)``: the OAuth ``error`` code (RFC 6749 §5.2),
    ``http_<status>``, the transport error, or what the 200 lacked."""
    if transport_error is not None or status == 0:
        return None, transport_error or "no_response"
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if status != 200:
        code = data.get("error") if isinstance(data, dict) else None
        if isinstance(code, str) and _ERROR_CODE.match(code):
            return None, code
        return None, f"http_{status}"
    if not isinstance(data, dict):
        return None, "not_json"
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        return None, "no_access_token"
    if str(data.get("token_type", "")).lower() != "bearer":
        return None, "not_bearer"
    lifetime = data.get("expires_in")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        return None, "no_expires_in"
    return float(lifetime), None


def _validate() -> tuple[str, str]:
    secret = CLIENT_SECRET if CLIENT_SECRET is not None else os.environ.get(SECRET_ENV)
    if not secret:
        raise ConfigError(f"--client-secret is required (or set {SECRET_ENV})")
    if AUTH_METHOD not in AUTH_METHODS:
        raise ConfigError(f"--auth-method: expected one of {', '.join(AUTH_METHODS)}, "
                          f"got {AUTH_METHOD!r}")
    if CLIENTS < 1 or RATE <= 0:
        raise ConfigError("--clients and --rate must be positive")
    if not 0 <= FAILED_RATE <= 1:
        raise ConfigError(f"--failed-rate: expected a share between 0 and 1, got {FAILED_RATE:g}")
    return resolve_token_url(TOKEN_URL, TARGET), secret


URL, _secret = _validate()
CLIENT_IDS = [CLIENT_ID] if CLIENTS == 1 else [f"{CLIENT_ID}-{n}" for n in range(1, CLIENTS + 1)]
REQUESTS = [client_request(c, _secret, AUTH_METHOD, SCOPE) for c in CLIENT_IDS]
del _secret

_origin = urlsplit(URL)
# The origin, so the engine's preflight refuses an unreachable token endpoint (exit 2).
options = {"target": f"{_origin.scheme}://{_origin.netloc}"}

thresholds: dict[str, list[Any]] = {
    "http_req_duration{scenario:token_storm}": [f"p(95)<{P95 * 1000:g}", f"p(99)<{P99 * 1000:g}"],
    "oauth_token_failed{scenario:token_storm}": [f"rate<{FAILED_RATE:g}"],
}

tokens_issued = Counter("oauth_tokens_issued", description="token requests answered with a token")
token_errors = Counter("oauth_token_errors",
                       description="token requests that yielded no token, tag error=<code>")
token_failed = Rate("oauth_token_failed", description="share of token requests without a token")
token_lifetime = Trend("oauth_token_lifetime", time=False,
                       description="expires_in of the issued tokens, seconds")


@scenario(ConstantArrivalRate(rate=RATE, duration=DURATION))
async def token_storm(vu: VU) -> None:
    req = REQUESTS[vu.scenario_iteration % len(REQUESTS)]
    r = await vu.http.post(URL, headers=req.headers, body=req.body, name="token")
    lifetime, problem = read_token(r.status, r.error, r.body)
    check(problem, {"token issued": lambda p: p is None})
    token_failed.add(problem is not None)
    if lifetime is not None:
        tokens_issued.add()
        token_lifetime.add(lifetime)
    else:
        token_errors.add(1, tags={"error": str(problem)})


def handle_summary(summary: dict[str, Any], view: Any) -> dict[str, Any]:
    """A ``token_storm`` section (JSON) and its lines in the text summary."""
    _common.add_scenario_metrics(summary, view)
    tags = {"scenario": "token_storm"}

    def count(metric: str, extra: dict[str, str] | None = None) -> int:
        v = view.values(metric, dict(tags, **(extra or {})))
        return int(v["count"]) if v else 0

    by_error = {code: count("oauth_token_errors", {"error": code})
                for code in sorted(view.tag_values("oauth_token_errors", "error"))}
    section: dict[str, Any] = {
        "token_url": redact_url(URL),
        "auth_method": AUTH_METHOD,
        "clients": len(CLIENT_IDS),
        "scope": SCOPE,
        "requests": count("http_reqs"),
        "tokens_issued": count("oauth_tokens_issued"),
        "failures": sum(by_error.values()),
        "failures_by_error": by_error,
        "request_ms": _common.trend_brief(view.values("http_req_duration", tags)),
        "token_lifetime_s": _common.trend_brief(view.values("oauth_token_lifetime", tags)),
        "contract": {"p95_ms": P95 * 1000, "p99_ms": P99 * 1000, "failed_rate": FAILED_RATE},
    }
    lines = [f"{section['tokens_issued']:,} tokens issued of {section['requests']:,} requests "
             f"({section['clients']} client(s), {AUTH_METHOD})"]
    if by_error:
        lines.append("failures: " + ", ".join(f"{code} {n:,}" for code, n in by_error.items()))
    lifetime = section["token_lifetime_s"]
    if lifetime:
        lines.append(f"token lifetime (expires_in): p50 {lifetime['p50']:g} s, "
                     f"max {lifetime['max']:g} s")
    text = dict(summary.get("text_sections") or {})
    text["token-storm"] = lines
    return {"token_storm": section, "text_sections": text}
