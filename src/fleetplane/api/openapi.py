"""Hand-written OpenAPI 3.0 document served at /openapi.json (for schema-driven fuzzing)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fleetplane import __version__
from fleetplane.api.common import json_response

Schema = dict[str, Any]

_STR: Schema = {"type": "string"}
_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
_TS: Schema = {"type": "string", "format": "date-time"}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(desc: str) -> Schema:
    return {"description": desc, "content": {"application/problem+json": {"schema": _PROBLEM_REF}}}


def _json(desc: str, ref: str | None = None) -> Schema:
    schema: Schema = {"$ref": f"#/components/schemas/{ref}"} if ref else {"type": "object"}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _body(ref: str, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _q(name: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema or _STR}


def _p(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


_PAGE = [
    _q("page", {"type": "integer", "minimum": 1}),
    _q("per_page", {"type": "integer", "minimum": 1, "maximum": 500}),
    _q("cursor"),
    _q("page_size", {"type": "integer", "minimum": 1, "maximum": 500}),
    _q("sort"),
]
_ERR = {"400": _problem("invalid input"), "401": _problem("missing or invalid API key")}

SCHEMAS: dict[str, Schema] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {"type": _STR, "title": _STR, "status": {"type": "integer"}, "detail": _STR},
    },
    "CertificateCreate": {
        "type": "object",
        "required": ["name", "common_name", "owner_id", "team_id", "issuer_id", "renewal_policy_id"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "common_name": {"type": "string", "maxLength": 253},
            "owner_id": _STR,
            "team_id": _STR,
            "issuer_id": _STR,
            "renewal_policy_id": _STR,
            "profile_id": _STR,
            "sans": {"type": "array", "items": _STR},
            "environment": _STR,
            "tags": _MAP,
            "expires_at": _TS,
        },
    },
    "BulkRenew": {
        "type": "object",
        "properties": {
            "team_id": _STR,
            "issuer_id": _STR,
            "owner_id": _STR,
            "profile_id": _STR,
            "certificate_ids": {"type": "array", "items": _STR},
        },
    },
    "AgentCreate": {
        "type": "object",
        "required": ["name", "hostname"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"},
            "name": _STR,
            "hostname": _STR,
            "os": _STR,
            "architecture": _STR,
            "version": _STR,
            "labels": _MAP,
        },
    },
    "Heartbeat": {"type": "object", "properties": {"version": _STR, "metrics": {"type": "object"}}},
    "JobStatus": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["Running", "Completed", "Failed"]}, "message": _STR},
    },
}


def _cert_paths() -> dict[str, Any]:
    filters = [_q(n) for n in ("status", "environment", "owner_id", "team_id", "issuer_id")]
    filters += [_q("expires_before", _TS), _q("expires_after", _TS)]
    return {
        "/api/v1/certificates": {
            "get": {"summary": "List certificates", "parameters": filters + _PAGE,
                    "responses": {"200": _json("page of certificates"), "304": {"description": "not modified"}, **_ERR}},
            "post": {"summary": "Create a certificate", "requestBody": _body("CertificateCreate"),
                     "responses": {"201": _json("created"), "409": _problem("duplicate name"),
                                   "413": _problem("body too large"), "415": _problem("not JSON"), **_ERR}},
        },
        "/api/v1/certificates/bulk-renew": {
            "post": {"summary": "Enqueue renewals", "requestBody": _body("BulkRenew"),
                     "responses": {"200": _json("bulk renew result"), **_ERR}},
        },
        "/api/v1/certificates/{id}": {
            "parameters": [_p("id")],
            "get": {"summary": "Get a certificate", "responses": {"200": _json("certificate"), "404": _problem("unknown id"), **_ERR}},
            "delete": {"summary": "Delete a certificate", "responses": {"204": {"description": "deleted"}, "404": _problem("unknown id"), **_ERR}},
        },
    }  # fmt: skip


def _agent_paths() -> dict[str, Any]:
    return {
        "/api/v1/agents": {
            "get": {"summary": "List agents", "parameters": [_q("status"), *_PAGE], "responses": {"200": _json("page of agents"), **_ERR}},
            "post": {"summary": "Register an agent", "requestBody": _body("AgentCreate"),
                     "responses": {"201": _json("registered"), "409": _problem("duplicate name or id"), **_ERR}},
        },
        "/api/v1/agents/{id}": {
            "parameters": [_p("id")],
            "get": {"summary": "Get an agent", "responses": {"200": _json("agent"), "404": _problem("unknown id"), **_ERR}},
            "delete": {"summary": "Retire an agent", "responses": {"204": {"description": "retired"}, "404": _problem("unknown id"), **_ERR}},
        },
        "/api/v1/agents/{id}/heartbeat": {
            "parameters": [_p("id")],
            "post": {"summary": "Record a heartbeat", "requestBody": _body("Heartbeat", required=False),
                     "responses": {"200": _json("recorded"), "404": _problem("unknown"), "410": _problem("retired"), **_ERR}},
        },
        "/api/v1/agents/{id}/work": {
            "parameters": [_p("id")],
            "get": {"summary": "Claim pending jobs", "responses": {"200": _json("claimed jobs"), "404": _problem("unknown"), "410": _problem("retired"), **_ERR}},
        },
        "/api/v1/jobs": {
            "get": {"summary": "List jobs", "parameters": [_q("status"), _q("type"), _q("certificate_id"), _q("agent_id"), *_PAGE],
                    "responses": {"200": _json("page of jobs"), **_ERR}},
        },
        "/api/v1/jobs/{id}": {
            "parameters": [_p("id")],
            "get": {"summary": "Get a job", "responses": {"200": _json("job"), "404": _problem("unknown id"), **_ERR}},
        },
        "/api/v1/jobs/{id}/status": {
            "parameters": [_p("id")],
            "post": {"summary": "Report job status", "requestBody": _body("JobStatus"),
                     "responses": {"200": _json("job"), "404": _problem("unknown"), "409": _problem("invalid transition"), **_ERR}},
        },
    }  # fmt: skip


def _public_paths() -> dict[str, Any]:
    ok = {"200": _json("ok")}
    return {
        "/acme/profile/{profile}/directory": {"parameters": [_p("profile")], "get": {"security": [], "responses": {**ok, "404": _problem("unknown profile")}}},
        "/acme/profile/{profile}/new-nonce": {
            "parameters": [_p("profile")],
            "get": {"security": [], "responses": {"204": {"description": "nonce in Replay-Nonce"}, "404": _problem("unknown profile")}},
            "head": {"security": [], "responses": {"200": {"description": "nonce in Replay-Nonce"}, "404": {"description": "unknown profile"}}},
        },
        "/acme/profile/{profile}/renewal-info/{certid}": {
            "parameters": [_p("profile"), _p("certid")],
            "get": {"security": [], "responses": {**ok, "400": _problem("malformed id"), "404": _problem("unknown certificate")}},
        },
        "/healthz": {"get": {"security": [], "responses": {
            **ok, "503": _problem("overloaded (only with --unhealthy-after-overload)")}}},
        "/readyz": {"get": {"security": [], "responses": {**ok, "503": _problem("database unreachable")}}},
        "/version": {"get": {"security": [], "responses": ok}},
        "/metrics": {"get": {"security": [], "responses": {"200": {"description": "Prometheus text"}}}},
        "/admin/loadtest/runs/{run_id}": {
            "parameters": [_p("run_id")],
            "delete": {"summary": "Remove a load-test run (admin key)", "responses": {**ok, "401": _problem("bad admin key"), "503": _problem("no admin key configured")}},
        },
    }  # fmt: skip


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "fleetplane reference control plane", "version": __version__},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {**_cert_paths(), **_agent_paths(), **_public_paths()},
    }


_DOC = document()


async def openapi(request: Request) -> Response:
    return json_response(_DOC)
