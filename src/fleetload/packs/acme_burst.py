"""acme-burst: 200 ACME clients hammering the unauthenticated ACME surface (directory, nonce, ARI) for 5 minutes.

Models a burst of ACME clients - a fleet restarting, a cron firing everywhere at
once - against the discovery endpoints every client calls before it does
anything else: ``GET /acme/profile/{profile}/directory``, ``HEAD .../new-nonce``
and ``GET .../renewal-info/{ari-id}`` (RFC 9773 ARI, with the ids of seeded
certificates). 200 VUs loop over the three calls back to back (closed loop:
constant-vus), so the request rate is whatever the server sustains.

A protected server answers part of such a burst with 429. That is expected
(429 is not a failed request here) but its shape is checked: RFC 8555 wants an
RFC 7807 ``application/problem+json`` body with type
``urn:ietf:params:acme:error:rateLimited``. ``acme_rate_limited`` counts every
429, ``acme_rate_limit_shape_ok`` those of the right shape (for HEAD, which has
no body, the content type), and a 429 of any other shape fails a check.

    fleetload run acme-burst --target https://host:8443 --token KEY
    fleetload run acme-burst --target https://host:8443 --ari-ids ari.txt --vus 50

The token is only used by ``setup()`` to list the seeded certificates' ARI ids
(``ari_id`` on the reference target); for other servers give ``--ari-ids FILE``
(one id per line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleetload import (
    VU,
    ConfigError,
    ConstantVUs,
    Counter,
    Duration,
    Rate,
    Response,
    check,
    param,
    scenario,
)
from fleetload.packs import _common

VUS = param("vus", int, default=200, help="concurrent ACME clients")
DURATION = param("duration", Duration, default="5m")
PROFILE = param("profile", str, default="default", help="ACME profile id")
ARI_IDS = param("ari_ids", str, help="file of ARI certificate ids, one a line")
ARI_SAMPLE = param("ari_sample", int, default=1000, help="seeded certificates to take ARI ids from")
SEED = param("seed", str, help="seed the fixture first: bare (through the API) or a database URL")
CERTS = param("certs", int, default=10_000, help="fixture size that --seed loads")
TARGET = param("target", str)

RATE_LIMITED = "urn:ietf:params:acme:error:rateLimited"
ENDPOINTS = ("acme_directory", "acme_new_nonce", "acme_renewal_info")
EXPECTED = (200, 429)

thresholds = {
    # Latency of the answers that were served (a 429 is fast and would flatter it).
    "http_req_duration{scenario:acme_burst,name:acme_directory,status:200}": ["p(95)<500"],
    "http_req_duration{scenario:acme_burst,name:acme_new_nonce,status:200}": ["p(95)<300"],
    "http_req_duration{scenario:acme_burst,name:acme_renewal_info,status:200}": ["p(95)<800"],
    "acme_5xx{scenario:acme_burst}": ["rate<0.001"],
}

acme_5xx = Rate("acme_5xx")
rate_limited = Counter("acme_rate_limited")
shape_ok = Counter("acme_rate_limit_shape_ok")


async def setup(ctx: Any) -> dict[str, Any]:
    if ARI_IDS:
        path = Path(ARI_IDS)
        if not path.is_file():
            raise ConfigError(f"--ari-ids: no such file: {ARI_IDS}")
        ids = [line.strip() for line in path.read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
        if not ids:
            raise ConfigError(f"--ari-ids: {ARI_IDS} holds no ids")
        return {"ari_ids": ids}
    mode = _common.seed_mode(SEED)
    if mode:
        await _common.seed(ctx.http, mode, certs=CERTS)
    certs = await _common.list_all(
        ctx.http, "/api/v1/certificates?environment=loadtest", limit=ARI_SAMPLE,
        keep=lambda c: str(c.get("name", "")).startswith(_common.CERT_PREFIX) and c.get("ari_id"))
    if not certs:
        raise ConfigError("no seeded certificates with an ari_id on the target: seed them with: "
                          + _common.seed_command(certs=CERTS, target=TARGET)
                          + ", or give --ari-ids FILE")
    _common.say(f"acme-burst: {len(certs)} ARI ids from the seeded certificates, "
                f"{VUS} clients on profile {PROFILE!r}")
    return {"ari_ids": [str(c["ari_id"]) for c in certs]}


def rate_limit_shape_ok(r: Response, method: str) -> bool:
    ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/problem+json":
        return False
    if method == "HEAD":
        return True  # a HEAD answer has no body: the content type is all there is
    try:
        doc = r.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("type") == RATE_LIMITED


def record(r: Response, name: str, method: str) -> None:
    acme_5xx.add(r.status >= 500, tags={"name": name})
    if r.status == 429:
        rate_limited.add(1, tags={"name": name})
        ok = rate_limit_shape_ok(r, method)
        if ok:
            shape_ok.add(1, tags={"name": name})
        check(r, {"429 is an ACME rateLimited problem": lambda _: ok})


@scenario(ConstantVUs(vus=VUS, duration=DURATION))
async def acme_burst(vu: VU) -> None:
    base = f"/acme/profile/{PROFILE}"
    r = await vu.http.get(f"{base}/directory", name="acme_directory", expected_statuses=EXPECTED)
    record(r, "acme_directory", "GET")
    check(r, {"directory has newNonce": lambda r: r.status != 200 or "newNonce" in r.json()})

    r = await vu.http.head(f"{base}/new-nonce", name="acme_new_nonce", expected_statuses=EXPECTED)
    record(r, "acme_new_nonce", "HEAD")
    check(r, {"nonce has Replay-Nonce": lambda r: r.status != 200 or bool(r.headers.get("replay-nonce"))})

    ids: list[str] = vu.data["ari_ids"]
    ari = ids[vu.scenario_iteration % len(ids)]
    r = await vu.http.get(f"{base}/renewal-info/{ari}", name="acme_renewal_info",
                          expected_statuses=EXPECTED)
    record(r, "acme_renewal_info", "GET")
    check(r, {"renewal-info has a window": lambda r: r.status != 200
              or "start" in r.json().get("suggestedWindow", {})})


def handle_summary(summary: dict[str, Any], view: Any) -> dict[str, Any]:
    """An ``acme_burst`` section: per endpoint, served latency, 429s and their shape."""
    _common.add_scenario_metrics(summary, view)
    out: dict[str, Any] = {}
    for name in ENDPOINTS:
        tags = {"scenario": "acme_burst", "name": name}
        reqs = view.values("http_reqs", tags)
        limited = view.values("acme_rate_limited", {"name": name})
        good = view.values("acme_rate_limit_shape_ok", {"name": name})
        errors = view.values("acme_5xx", {"name": name})
        out[name] = {
            "requests": reqs["count"] if reqs else 0.0,
            "served_ms": _common.trend_brief(view.values("http_req_duration", dict(tags, status="200"))),
            "rate_limited": limited["count"] if limited else 0.0,
            "rate_limit_shape_ok": good["count"] if good else 0.0,
            "5xx_rate": errors["rate"] if errors else 0.0,
        }
    return {"acme_burst": out}
