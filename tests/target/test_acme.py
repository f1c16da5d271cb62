"""Contract: the unauthenticated ACME surface (directory, nonce, ARI)."""

from __future__ import annotations

import base64

from fleetplane.ari import ari_id

from .client import Api
from .conftest import cert_body


def test_directory(api: Api) -> None:
    r = api.get("/acme/profile/default/directory", key=None)
    assert r.status == 200
    d = r.json
    for k in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
        assert d[k].startswith("http") and "/acme/profile/default/" in d[k]
    assert d["meta"]["termsOfService"]
    assert api.get("/acme/profile/prof-default/directory", key=None).status == 200
    assert api.get("/acme/profile/nope/directory", key=None).is_problem(404)


def test_new_nonce(api: Api) -> None:
    h = api.call("HEAD", "/acme/profile/default/new-nonce", key=None)
    g = api.get("/acme/profile/default/new-nonce", key=None)
    assert h.status == 200 and g.status == 204
    assert h.headers["replay-nonce"] != g.headers["replay-nonce"]
    assert g.headers["cache-control"] == "no-store"
    assert api.get("/acme/profile/nope/new-nonce", key=None).is_problem(404)


def test_renewal_info(api: Api, uid: str) -> None:
    c = api.post("/api/v1/certificates", cert_body(f"ari-{uid}", expires_at="2040-01-01T00:00:00Z")).json
    r = api.get(f"/acme/profile/default/renewal-info/{c['ari_id']}", key=None)
    assert r.status == 200, r.body
    w = r.json["suggestedWindow"]
    assert w["start"] < w["end"] < "2040-01-01T00:00:00.000000Z"
    aki = base64.urlsafe_b64decode(c["ari_id"].split(".")[0] + "==")
    unknown = ari_id(aki, int(c["serial_number"], 16) + 2)
    assert api.get(f"/acme/profile/default/renewal-info/{unknown}", key=None).is_problem(404)
    for bad in ("nodot", "a.b.c", "!!.AA", "AAAA.gA", ".AA", "AA."):
        assert api.get(f"/acme/profile/default/renewal-info/{bad}", key=None).is_problem(400), bad
