"""A PostgreSQL database of its own for each test run: created at the start, dropped at the end."""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from tests.support.services import unavailable

ADMIN_URL = os.environ.get("ITBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_connection():
    import psycopg

    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh database on the real server (skips, or fails in CI, when none can be had)."""
    import psycopg

    name = f"itbot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with _admin_connection() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {ADMIN_URL} cannot be used: {str(exc).strip().splitlines()[0]}")
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_database(url: str) -> None:
    """Drop every table (the next build_store migrates afresh), so each test starts clean."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
