"""Row -> JSON shapes (certctl-compatible field names)."""

from __future__ import annotations

import json
from typing import Any

from fleetplane.ari import ari_id
from fleetplane.db import Row


def certificate(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "common_name": row["common_name"],
        "sans": json.loads(row["sans"]),
        "environment": row["environment"],
        "owner_id": row["owner_id"],
        "team_id": row["team_id"],
        "issuer_id": row["issuer_id"],
        "renewal_policy_id": row["renewal_policy_id"],
        "profile_id": row["profile_id"],
        "status": row["status"],
        "expires_at": row["expires_at"],
        "tags": json.loads(row["tags"]),
        "serial_number": row["serial_hex"],
        "ari_id": ari_id(bytes.fromhex(row["aki_hex"]), int(row["serial_hex"], 16)),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_renewed_at": row["last_renewed_at"],
    }


def agent_status(row: Row, online_since: str) -> str:
    if row["status"] != "Active":
        return str(row["status"])
    last = row["last_heartbeat_at"]
    return "Online" if last is not None and last >= online_since else "Offline"


def agent(row: Row, online_since: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "hostname": row["hostname"],
        "os": row["os"],
        "architecture": row["architecture"],
        "version": row["version"],
        "labels": json.loads(row["labels"]),
        "status": agent_status(row, online_since),
        "transport": row["transport"],
        "registered_at": row["registered_at"],
        "last_heartbeat_at": row["last_heartbeat_at"],
        "retired_at": row["retired_at"],
        "heartbeat_count": int(row["heartbeat_count"]),
        "pushes_sent": int(row["pushes_sent"]),
        "task_results": int(row["task_results"]),
        "task_failures": int(row["task_failures"]),
        "check_results": int(row["check_results"]),
        "check_failures": int(row["check_failures"]),
        "inventory_packages": int(row["inventory_packages"]),
    }


def job(row: Row) -> dict[str, Any]:
    out = dict(row)
    out["attempts"] = int(row["attempts"])
    return out
