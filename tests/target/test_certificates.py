"""Contract: /api/v1/certificates (create, read, delete, list, pagination, ETag)."""

from __future__ import annotations

import pytest

from fleetplane.ari import ari_id

from .client import Api
from .conftest import cert_body

REQUIRED = ["name", "common_name", "owner_id", "team_id", "issuer_id", "renewal_policy_id"]


def test_create_returns_stored_object(api: Api, uid: str) -> None:
    body = cert_body(
        f"c-{uid}", sans=["www.example.com", "10.0.0.1"], environment="prod",
        tags={"run_id": "r-x", "app": "web"}, expires_at="2031-01-02T03:04:05+02:00", profile_id="prof-default",
    )  # fmt: skip
    r = api.post("/api/v1/certificates", body)
    assert r.status == 201, r.body
    c = r.json
    assert c["id"].startswith("mc-")
    assert c["status"] == "Pending"
    assert c["created_at"] and c["updated_at"]
    assert c["expires_at"] == "2031-01-02T01:04:05.000000Z"
    assert c["sans"] == ["www.example.com", "10.0.0.1"]
    assert c["tags"] == {"run_id": "r-x", "app": "web"}
    assert c["profile_id"] == "prof-default"
    assert r.headers["location"] == f"/api/v1/certificates/{c['id']}"
    aki_hex = c["ari_id"].split(".")[0]
    assert c["ari_id"] == ari_id(
        __import__("base64").urlsafe_b64decode(aki_hex + "=" * (-len(aki_hex) % 4)), int(c["serial_number"], 16)
    )
    got = api.get(f"/api/v1/certificates/{c['id']}")
    assert got.status == 200 and got.json == c


@pytest.mark.parametrize("cn", ["host.example.com", "*.example.com", "192.0.2.1", "2001:db8::1", "ops@example.com"])
def test_common_name_forms(api: Api, uid: str, cn: str) -> None:
    assert api.post("/api/v1/certificates", cert_body(f"cn-{uid}", common_name=cn)).status == 201


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_named(api: Api, uid: str, field: str) -> None:
    body = cert_body(f"m-{uid}")
    del body[field]
    r = api.post("/api/v1/certificates", body)
    assert r.is_problem(400), r.body
    assert r.json["field"] == field and field in r.json["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("owner_id", "o-nobody"), ("team_id", "t-none"), ("issuer_id", "iss-nope"),
        ("renewal_policy_id", "rp-x"), ("profile_id", "prof-x"), ("common_name", "not a host!"),
        ("common_name", "a" * 254), ("name", 42), ("sans", "x.example.com"), ("sans", [1]),
        ("tags", {"a": 1}), ("tags", ["a"]), ("expires_at", "tomorrow"), ("expires_at", "2030-01-01T00:00:00"),
        ("environment", ["prod"]),
    ],
)  # fmt: skip
def test_invalid_field_is_named(api: Api, uid: str, field: str, value: object) -> None:
    r = api.post("/api/v1/certificates", cert_body(f"i-{uid}", **{field: value}))
    assert r.is_problem(400), r.body
    assert r.json["field"].split("[")[0] == field


def test_first_invalid_field_wins(api: Api, uid: str) -> None:
    r = api.post("/api/v1/certificates", cert_body(f"f-{uid}", common_name="bad host", owner_id="nobody"))
    assert r.json["field"] == "common_name"


def test_duplicate_name_conflicts(api: Api, uid: str) -> None:
    assert api.post("/api/v1/certificates", cert_body(f"d-{uid}")).status == 201
    r = api.post("/api/v1/certificates", cert_body(f"d-{uid}"))
    assert r.is_problem(409)


def test_get_and_delete_unknown(api: Api) -> None:
    assert api.get("/api/v1/certificates/mc-nope").is_problem(404)
    assert api.delete("/api/v1/certificates/mc-nope").is_problem(404)


def test_delete(api: Api, uid: str) -> None:
    cid = api.post("/api/v1/certificates", cert_body(f"del-{uid}")).json["id"]
    r = api.delete(f"/api/v1/certificates/{cid}")
    assert r.status == 204 and r.body == b""
    assert api.get(f"/api/v1/certificates/{cid}").status == 404
    assert api.delete(f"/api/v1/certificates/{cid}").status == 404


def _make(api: Api, prefix: str, n: int, **over: object) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        r = api.post("/api/v1/certificates", cert_body(f"{prefix}-{i:03d}", **over))
        assert r.status == 201, r.body
        out.append(r.json)
    return out


def test_list_page_mode_and_filters(api: Api, uid: str) -> None:
    env = f"env-{uid}"
    made = _make(api, f"lp-{uid}", 5, environment=env)
    r = api.get(f"/api/v1/certificates?environment={env}&per_page=2&page=2&sort=name")
    assert r.status == 200
    assert set(r.json) == {"data", "total", "page", "per_page"}
    assert r.json["total"] == 5 and r.json["page"] == 2 and r.json["per_page"] == 2
    assert [c["name"] for c in r.json["data"]] == [made[2]["name"], made[3]["name"]]
    r = api.get(f"/api/v1/certificates?environment={env}&sort=-name")
    assert [c["name"] for c in r.json["data"]] == [c["name"] for c in reversed(made)]
    assert r.json["per_page"] == 50
    r = api.get(f"/api/v1/certificates?environment={env}&status=Pending&owner_id=o-alice&team_id=t-platform&issuer_id=iss-local")
    assert r.json["total"] == 5
    assert api.get(f"/api/v1/certificates?environment={env}&status=Active").json["total"] == 0


def test_list_expiry_filters_and_sort(api: Api, uid: str) -> None:
    env = f"exp-{uid}"
    for i, day in enumerate(["2030-01-01", "2030-06-01", "2031-01-01"]):
        api.post("/api/v1/certificates", cert_body(f"e-{uid}-{i}", environment=env, expires_at=f"{day}T00:00:00Z"))
    r = api.get(f"/api/v1/certificates?environment={env}&expires_before=2030-07-01T00:00:00Z&expires_after=2030-02-01T00:00:00Z")
    assert [c["name"] for c in r.json["data"]] == [f"e-{uid}-1"]
    r = api.get(f"/api/v1/certificates?environment={env}&sort=-expires_at")
    assert [c["name"] for c in r.json["data"]] == [f"e-{uid}-2", f"e-{uid}-1", f"e-{uid}-0"]


@pytest.mark.parametrize(
    "query",
    ["per_page=0", "per_page=501", "per_page=abc", "page=0", "page_size=0", "page_size=501", "sort=bogus",
     "status=Weird", "expires_before=yesterday", "cursor=!!!", "cursor=eyJ4IjoxfQ"],
)  # fmt: skip
def test_list_bad_params(api: Api, query: str) -> None:
    r = api.get(f"/api/v1/certificates?{query}")
    assert r.is_problem(400), (query, r.body)


def test_cursor_mode_is_stable_under_inserts(api: Api, uid: str) -> None:
    env = f"cur-{uid}"
    made = _make(api, f"cu-{uid}", 7, environment=env)
    seen: list[str] = []
    r = api.get(f"/api/v1/certificates?environment={env}&page_size=3&sort=name")
    assert set(r.json) == {"data", "total", "next_cursor", "page_size"}
    assert r.json["total"] == 7 and r.json["page_size"] == 3
    seen += [c["name"] for c in r.json["data"]]
    # Rows inserted before the cursor position must not shift later pages.
    api.post("/api/v1/certificates", cert_body(f"cu-{uid}-000a", environment=env))
    cursor = r.json["next_cursor"]
    while cursor:
        r = api.get(f"/api/v1/certificates?environment={env}&page_size=3&sort=name&cursor={cursor}")
        assert r.status == 200
        seen += [c["name"] for c in r.json["data"]]
        cursor = r.json["next_cursor"]
    assert seen == [c["name"] for c in made]
    # A cursor from one sort is refused for another.
    first = api.get(f"/api/v1/certificates?environment={env}&page_size=1&sort=name").json["next_cursor"]
    assert api.get(f"/api/v1/certificates?cursor={first}&sort=-name").is_problem(400)


def test_cursor_mode_without_filters_walks_everything(api: Api) -> None:
    total = api.get("/api/v1/certificates?per_page=1").json["total"]
    ids: list[str] = []
    cursor = ""
    while True:
        r = api.get(f"/api/v1/certificates?page_size=500&sort=-created_at&cursor={cursor}")
        ids += [c["id"] for c in r.json["data"]]
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    assert len(ids) == len(set(ids)) >= total


def test_etag_and_304(api: Api, uid: str) -> None:
    env = f"etag-{uid}"
    _make(api, f"et-{uid}", 2, environment=env)
    r = api.get(f"/api/v1/certificates?environment={env}")
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    r2 = api.get(f"/api/v1/certificates?environment={env}", headers={"If-None-Match": etag})
    assert r2.status == 304 and r2.body == b"" and r2.headers["etag"] == etag
    api.post("/api/v1/certificates", cert_body(f"et-{uid}-new", environment=env))
    r3 = api.get(f"/api/v1/certificates?environment={env}", headers={"If-None-Match": etag})
    assert r3.status == 200 and r3.headers["etag"] != etag
    one = r.json["data"][0]["id"]
    e1 = api.get(f"/api/v1/certificates/{one}").headers["etag"]
    assert api.get(f"/api/v1/certificates/{one}", headers={"If-None-Match": e1}).status == 304
