"""The suite's PostgreSQL: the order it is looked for in, and the throwaway
cluster it falls back to (started, used, stopped and removed)."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.support.postgres import PG_ENV, binaries, postgres_server


def test_throwaway_cluster_starts_answers_and_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    if binaries() is None:
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)")
    monkeypatch.setenv(PG_ENV, "postgresql://ignored@127.0.0.1:1/x")  # not consulted
    with postgres_server(sources=("throwaway",)) as server:
        assert server.source == "throwaway cluster", server.reason
        assert server.url is not None and server.url.startswith("postgresql://postgres@127.0.0.1:")
        assert not server.url.endswith(":5432/postgres")
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (n int)")
            conn.execute("INSERT INTO t SELECT generate_series(1, 3)")
            row = conn.execute("SELECT count(*), current_user FROM t").fetchone()
            assert row == (3, "postgres")
            folder = conn.execute("SHOW data_directory").fetchone()
            socket_dir = conn.execute("SHOW unix_socket_directories").fetchone()
        assert folder is not None and socket_dir is not None
        data_dir = folder[0]
        assert os.path.isdir(data_dir) and data_dir.startswith(socket_dir[0])
    assert not os.path.exists(data_dir) and not os.path.exists(socket_dir[0])
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=2)


def test_the_environment_variable_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PG_ENV, "postgresql://someone@db.example:5433/x")
    with postgres_server() as server:
        assert (server.url, server.source) == ("postgresql://someone@db.example:5433/x", PG_ENV)


def test_no_server_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PG_ENV, raising=False)
    with postgres_server(sources=("env",)) as server:
        assert server.url is None
        assert server.reason == f"no PostgreSQL: {PG_ENV} is not set"


def test_the_session_server_answers(pg_server_url: str) -> None:
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        row = conn.execute("SELECT 1").fetchone()
    assert row == (1,)
