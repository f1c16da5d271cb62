"""Parse ``--db`` URLs.

``sqlite:///abs/path.db`` (absolute), ``sqlite://rel/path.db`` (relative),
``sqlite://:memory:`` (private in-memory database), ``postgresql://...``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class DbUrl:
    dialect: str  # "sqlite" | "postgres"
    url: str
    path: str | None = None  # sqlite only; ":memory:" for in-memory

    @property
    def memory(self) -> bool:
        return self.path == ":memory:"


def default_sqlite_url() -> str:
    base = os.environ.get("FLEETPLANE_DATA_DIR") or os.path.join(tempfile.gettempdir(), "fleetplane")
    return "sqlite:///" + os.path.abspath(os.path.join(base, "fleetplane.db")).lstrip("/")


def parse_db_url(url: str | None) -> DbUrl:
    url = url or default_sqlite_url()
    if url.startswith(("postgresql://", "postgres://")):
        return DbUrl("postgres", url)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if path in ("", ":memory:", "/:memory:"):
            return DbUrl("sqlite", url, ":memory:")
        return DbUrl("sqlite", url, path)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path, sqlite://:memory: or postgresql://...")
