"""Shared fixtures: the harness (real app + fake Slack), databases, and service tiers."""
from __future__ import annotations

import pytest

from bot.devtools.harness import Harness

pytest_plugins = ["tests.support.postgres", "tests.support.samba", "tests.support.ad_fixtures"]


@pytest.fixture
def harness(tmp_path):
    """The real Bolt app over HTTP on loopback, a FakeSlack, and a SQLite store in tmp_path."""
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}") as h:
        yield h


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """Each store test runs twice: on a SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    from tests.support.postgres import empty_database

    url = request.getfixturevalue("postgres_url")
    empty_database(url)
    return url
