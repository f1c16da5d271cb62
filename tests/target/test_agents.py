"""Contract: /api/v1/agents (register, read, list, heartbeat, retire)."""

from __future__ import annotations

from .client import Api


def _agent(api: Api, uid: str, **over: object) -> dict[str, object]:
    body = {"name": f"a-{uid}", "hostname": f"h-{uid}.example", "os": "linux", "architecture": "amd64",
            "version": "1.2.3", "labels": {"run_id": f"run-{uid}", "zone": "a"}}  # fmt: skip
    body.update(over)
    r = api.post("/api/v1/agents", body)
    assert r.status == 201, r.body
    return r.json  # type: ignore[no-any-return]


def test_register_shape(api: Api, uid: str) -> None:
    a = _agent(api, uid)
    assert str(a["id"]).startswith("ag-")
    assert a["status"] == "Online" and a["labels"] == {"run_id": f"run-{uid}", "zone": "a"}
    for counter in ("pushes_sent", "task_results", "check_results", "inventory_packages", "heartbeat_count"):
        assert a[counter] == 0
    assert api.get(f"/api/v1/agents/{a['id']}").json == a


def test_register_with_explicit_id(api: Api, uid: str) -> None:
    a = _agent(api, uid, id=f"ag-fixed-{uid}")
    assert a["id"] == f"ag-fixed-{uid}"
    assert api.post("/api/v1/agents", {"id": f"ag-fixed-{uid}", "name": f"other-{uid}", "hostname": "x"}).is_problem(409)
    assert api.post("/api/v1/agents", {"id": "bad id!", "name": f"o2-{uid}", "hostname": "x"}).is_problem(400)


def test_register_duplicate_and_invalid(api: Api, uid: str) -> None:
    _agent(api, uid)
    assert api.post("/api/v1/agents", {"name": f"a-{uid}", "hostname": "other"}).is_problem(409)
    r = api.post("/api/v1/agents", {"hostname": "x"})
    assert r.is_problem(400) and r.json["field"] == "name"
    r = api.post("/api/v1/agents", {"name": f"n-{uid}", "hostname": "x", "labels": {"a": 1}})
    assert r.is_problem(400) and r.json["field"] == "labels"


def test_heartbeat_lifecycle(api: Api, uid: str) -> None:
    a = _agent(api, uid)
    path = f"/api/v1/agents/{a['id']}/heartbeat"
    r = api.post(path)
    assert r.status == 200 and r.json == {"status": "heartbeat_recorded"}
    r = api.post(path, {"version": "2.0.0", "metrics": {"cpu": 0.5, "mem": 0.25}})
    assert r.status == 200
    got = api.get(f"/api/v1/agents/{a['id']}").json
    assert got["heartbeat_count"] == 2 and got["version"] == "2.0.0"
    assert got["last_heartbeat_at"] >= a["last_heartbeat_at"]  # type: ignore[operator]
    assert api.post(path, {"version": 3}).is_problem(400)
    assert api.post("/api/v1/agents/ag-unknown/heartbeat").is_problem(404)
    assert api.delete(f"/api/v1/agents/{a['id']}").status == 204
    assert api.post(path).is_problem(410)
    assert api.get(f"/api/v1/agents/{a['id']}").json["status"] == "Retired"
    assert api.get(f"/api/v1/agents/{a['id']}/work").is_problem(410)
    assert api.delete("/api/v1/agents/ag-unknown").is_problem(404)
    assert api.get("/api/v1/agents/ag-unknown").is_problem(404)


def test_list_agents(api: Api, uid: str) -> None:
    for i in range(3):
        _agent(api, f"{uid}-{i}")
    r = api.get("/api/v1/agents?per_page=2&sort=-registered_at")
    assert r.status == 200 and set(r.json) == {"data", "total", "page", "per_page"}
    assert len(r.json["data"]) == 2 and r.json["total"] >= 3
    assert r.json["data"][0]["name"] == f"a-{uid}-2"
    online = api.get("/api/v1/agents?status=Online&per_page=500").json
    assert all(a["status"] == "Online" for a in online["data"])
    assert api.get("/api/v1/agents?status=Nope").is_problem(400)
    assert "next_cursor" in api.get("/api/v1/agents?page_size=2").json
