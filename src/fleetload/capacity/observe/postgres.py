"""``--observe postgres=URL``: PostgreSQL's view of the load, once a second.

One connection (psycopg 3, async, autocommit), opened on the first sample and
kept: an observer that connected per sample would itself show up as churn in
what it measures. Its own backend is excluded from every count.

Values (client backends of the whole server, not only the URL's database —
the target may use another one):

* ``connections``, ``max_connections``, ``connections_used_pct``;
* ``state:<state>`` — e.g. ``state:active``, ``state:idle in transaction``;
* ``wait:<type>`` and ``wait:<type>:<event>`` for backends that are not idle
  (an idle backend always "waits" on ``Client:ClientRead``: noise);
* ``xact:rate`` — commits + rollbacks per second, from ``pg_stat_database``.
"""

from __future__ import annotations

import time
from typing import Any

from fleetload.errors import ConfigError
from fleetload.redact import redact_url

_ACTIVITY = """
SELECT state, wait_event_type, wait_event, count(*)
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1, 2, 3
"""
_XACT = "SELECT sum(xact_commit + xact_rollback)::float8 FROM pg_stat_database"


def source_name(url: str) -> str:
    """``postgres:host:port/db`` — never the user or the password."""
    redacted = redact_url(url) or ""
    return "postgres:" + redacted.split("://", 1)[-1]


class PostgresObserver:
    def __init__(self, url: str, *, source: str = "postgres") -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"--observe postgres={redact_url(url)}: expected a postgresql:// URL")
        self.url = url
        self.source = source
        # Imported now, before the run: importing psycopg takes 0.1-0.2 s, which
        # on the first sample would stall the event loop the VUs run on.
        import psycopg  # noqa: F401

        self._conn: Any = None
        self._max_connections = 0.0
        self._prev_xact: tuple[float, float] | None = None

    async def _connect(self) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=3,
                                                     application_name="fleetload-observer")
        async with conn.cursor() as cur:
            await cur.execute("SHOW max_connections")
            row = await cur.fetchone()
            self._max_connections = float(row[0]) if row else 0.0
        return conn

    async def sample(self) -> dict[str, float]:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        values: dict[str, float] = {}
        connections = 0.0
        async with self._conn.cursor() as cur:
            await cur.execute(_ACTIVITY)
            for state, wtype, wevent, n in await cur.fetchall():
                connections += n
                key = f"state:{state or 'unknown'}"
                values[key] = values.get(key, 0.0) + n
                if wtype and state != "idle":
                    for k in (f"wait:{wtype}", f"wait:{wtype}:{wevent}"):
                        values[k] = values.get(k, 0.0) + n
            await cur.execute(_XACT)
            row = await cur.fetchone()
        now = time.perf_counter()
        xact = float(row[0] or 0.0) if row else 0.0
        if self._prev_xact is not None and now > self._prev_xact[0]:
            values["xact:rate"] = max(xact - self._prev_xact[1], 0.0) / (now - self._prev_xact[0])
        self._prev_xact = (now, xact)
        values["connections"] = connections
        values["max_connections"] = self._max_connections
        if self._max_connections:
            values["connections_used_pct"] = 100.0 * connections / self._max_connections
        return values

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
