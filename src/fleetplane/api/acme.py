"""The unauthenticated ACME discovery surface certctl serves (directory, nonces, ARI)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from fleetplane.api.common import app_state, json_response
from fleetplane.ari import parse_ari_id
from fleetplane.problems import ACME_MALFORMED, Problem
from fleetplane.repo import certificates as certs_repo
from fleetplane.timeutil import fmt, now, parse_rfc3339

TERMS_OF_SERVICE = "https://fleetplane.invalid/terms"


def _profile(request: Request) -> str:
    pid: str = request.path_params["profile"]
    lookups = app_state(request).lookups
    if pid not in lookups.profiles and pid not in lookups.profile_ids:
        raise Problem(404, f"unknown ACME profile {pid!r}", type="urn:ietf:params:acme:error:malformed")
    return pid


async def directory(request: Request) -> Response:
    pid = _profile(request)
    base = f"{str(request.base_url).rstrip('/')}/acme/profile/{pid}"
    return json_response(
        {
            "newNonce": f"{base}/new-nonce",
            "newAccount": f"{base}/new-account",
            "newOrder": f"{base}/new-order",
            "revokeCert": f"{base}/revoke-cert",
            "keyChange": f"{base}/key-change",
            "renewalInfo": f"{base}/renewal-info",
            "meta": {"termsOfService": TERMS_OF_SERVICE, "externalAccountRequired": False},
        }
    )


async def new_nonce(request: Request) -> Response:
    _profile(request)
    headers = {"Replay-Nonce": secrets.token_urlsafe(16), "Cache-Control": "no-store"}
    # RFC 8555 7.2: HEAD answers 200, GET answers 204.
    return Response(status_code=200 if request.method == "HEAD" else 204, headers=headers)


async def renewal_info(request: Request) -> Response:
    _profile(request)
    raw: str = request.path_params["certid"]
    try:
        aki, serial = parse_ari_id(raw)
    except ValueError as exc:
        raise Problem(400, f"malformed ARI certificate id: {exc}", type=ACME_MALFORMED) from None
    st = app_state(request)
    async with st.db.transaction(write=False) as tx:
        row = await certs_repo.get_by_ari(tx, format(serial, "x"), aki.hex())
    if row is None:
        raise Problem(404, "no certificate with this ARI id", type=ACME_MALFORMED)
    expires = parse_rfc3339(row["expires_at"])
    created = parse_rfc3339(row["created_at"])
    lifetime = expires - created
    t = now()
    if row["status"] in ("Revoked", "Expired") or expires <= t or lifetime <= timedelta(0):
        # Renew immediately: a window that is already open.
        start, end = t - timedelta(minutes=1), t + timedelta(hours=1)
    else:
        # RFC 9773 suggests the middle of the last third of the validity period.
        start, end = expires - lifetime / 3, expires - lifetime / 6
    return json_response(
        {"suggestedWindow": {"start": fmt(start), "end": fmt(end)}}, headers={"Retry-After": "21600"}
    )
