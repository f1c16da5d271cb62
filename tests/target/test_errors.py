"""Bad input: clear problem+json, and nothing changes."""

from __future__ import annotations

import pytest

from .client import Api
from .conftest import cert_body

SQLISH = [
    "'; DROP TABLE certificates; --",
    "\" OR 1=1 --",
    "x' UNION SELECT * FROM agents --",
    "%_\\%",
    "Robert'); DELETE FROM jobs;--",
    "☃ ünïcødé \U0001d518 ?",
]


def _count(api: Api, path: str) -> int:
    return int(api.get(f"{path}?per_page=1").json["total"])


def test_auth_required(api: Api) -> None:
    for key in (None, "wrong", ""):
        r = api.get("/api/v1/certificates", key=key)
        assert r.is_problem(401)
        assert r.headers["www-authenticate"] == 'Bearer realm="fleetplane"'
    r = api.get("/api/v1/certificates", key=None, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert r.is_problem(401)
    assert api.post("/api/v1/agents/x/heartbeat", key="nope").is_problem(401)


def test_unknown_route_and_method(api: Api) -> None:
    assert api.get("/nope").is_problem(404)
    assert api.get("/api/v1/nothing").is_problem(404)
    r = api.call("PUT", "/api/v1/certificates", {})
    assert r.is_problem(405) and "GET" in r.headers.get("allow", "")
    assert api.call("PATCH", "/healthz").is_problem(405)


def test_body_problems_change_nothing(api: Api) -> None:
    before = _count(api, "/api/v1/certificates")
    cases = [
        api.post("/api/v1/certificates", raw=b"{not json"),
        api.post("/api/v1/certificates", raw=b"[1,2]"),
        api.post("/api/v1/certificates", raw=b'"str"'),
        api.post("/api/v1/certificates", raw=b""),
        api.post("/api/v1/certificates", raw=b"\xff\xfe"),
        api.post("/api/v1/certificates", raw=b"[" * 100_000 + b"]" * 100_000),
    ]
    for r in cases:
        assert r.is_problem(400), r.body
    r = api.post("/api/v1/certificates", raw=b'{"name":"x"}', content_type="text/plain")
    assert r.is_problem(415)
    r = api.post("/api/v1/certificates", raw=b"x" * (1024 * 1024 + 1))
    assert r.is_problem(413)
    big = cert_body("big", environment="e" * (1024 * 1024))
    assert api.post("/api/v1/certificates", big).is_problem(413)
    assert _count(api, "/api/v1/certificates") == before


@pytest.mark.parametrize("text", SQLISH)
def test_sql_looking_strings_are_stored_verbatim(api: Api, uid: str, text: str) -> None:
    name = f"{text}-{uid}"
    body = cert_body(name, common_name=f"sql-{uid}.example.com", environment=text, tags={text: text, "run_id": text})
    # common_name has a grammar, so SQL there is a clear 400, not a crash.
    assert api.post("/api/v1/certificates", {**body, "common_name": text}).is_problem(400)
    r = api.post("/api/v1/certificates", body)
    assert r.status == 201, r.body
    got = api.get(f"/api/v1/certificates/{r.json['id']}").json
    assert got["name"] == name and got["environment"] == text and got["tags"][text] == text
    assert api.post("/api/v1/certificates", body).is_problem(409)
    r = api.get("/api/v1/certificates", headers={})
    assert r.status == 200
    from urllib.parse import quote

    listed = api.get(f"/api/v1/certificates?environment={quote(text)}&owner_id={quote(text)}")
    assert listed.status == 200 and listed.json["total"] == 0
    listed = api.get(f"/api/v1/certificates?environment={quote(text)}")
    assert name in [c["name"] for c in listed.json["data"]]
    a = api.post("/api/v1/agents", {"name": name, "hostname": text, "os": text, "labels": {text: text}})
    assert a.status == 201 and a.json["hostname"] == text
    assert api.post(f"/api/v1/agents/{quote(a.json['id'])}/heartbeat", {"version": text}).status == 200
    r = api.post("/api/v1/certificates/bulk-renew", {"team_id": text, "owner_id": text, "certificate_ids": [text]})
    assert r.status == 200 and r.json["total_failed"] == 1
    assert api.get(f"/api/v1/certificates/{quote(text, safe='')}").is_problem(404)
    assert api.get(f"/api/v1/jobs?certificate_id={quote(text)}").status == 200


def test_nul_and_surrogates_rejected(api: Api, uid: str) -> None:
    assert api.post("/api/v1/certificates", cert_body(f"nul\x00{uid}")).is_problem(400)
    raw = b'{"name": "s\\ud800' + uid.encode() + b'", "common_name": "a.example.com"}'
    assert api.post("/api/v1/certificates", raw=raw).is_problem(400)
    assert api.get("/api/v1/certificates?environment=%00").is_problem(400)
    assert api.get("/api/v1/certificates/%00").is_problem(404)
    assert api.post("/api/v1/agents/%00/heartbeat").is_problem(404)


def test_wrong_types_everywhere(api: Api, uid: str) -> None:
    for value in (None, 1, 1.5, True, [], {}):
        body = cert_body(f"t-{uid}")
        body["common_name"] = value
        if value is None:
            body.pop("common_name")
        assert api.post("/api/v1/certificates", body).is_problem(400)
        assert api.post("/api/v1/agents", {"name": value, "hostname": "h"}).is_problem(400)
        assert api.post("/api/v1/jobs/job-x/status", {"status": value}).is_problem(400)
        assert api.post("/api/v1/certificates/bulk-renew", {"certificate_ids": value or 5}).is_problem(400)
