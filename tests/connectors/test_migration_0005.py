"""Revision 0005 (SLA windows per tier) on a database that has run the old one-escalation sweep."""
from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import insert, inspect

from connectors.store import _alembic_config, migrate, make_engine
from connectors.store.sql import SqlStore
from connectors.store.tables import requests

BREACHED = datetime(2026, 11, 25, 10, 1, tzinfo=timezone.utc)
WARNED = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)
CREATED = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
NEW_COLUMNS = ("sla_window_started_at", "sla_window_breached_at")


def _alembic(engine, verb, revision: str) -> None:
    """Run ``command.upgrade`` or ``command.downgrade`` to ``revision``, as ``migrate`` runs the upgrade."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        verb(cfg, revision)


def _old_request(conn, summary: str, team: str, **values) -> int:
    row = dict(requester_slack_id="U0ANA", summary=summary, intent="broken", topic="hardware", priority="P2",
               team=team, status="open", created_at=CREATED, updated_at=CREATED, **values)
    return conn.execute(insert(requests).values(**row).returning(requests.c.id)).scalar_one()


def test_breached_requests_are_carried_over_so_nothing_is_announced_again(database_url):
    engine = make_engine(database_url)
    _alembic(engine, command.upgrade, "0004")
    with engine.begin() as conn:
        escalated = _old_request(conn, "escalated by its breach", "helpdesk_l2", escalations=1,
                                 sla_breached_at=BREACHED)
        last_tier = _old_request(conn, "breached at the MSP", "msp", escalations=0, sla_breached_at=BREACHED)
        top = _old_request(conn, "escalated by hand, then breached at L3", "helpdesk_l3", escalations=2,
                           sla_warned_at=WARNED, sla_breached_at=BREACHED)
        fine = _old_request(conn, "on track", "helpdesk_l1", escalations=None)
    migrate(engine)
    store = SqlStore(engine)
    try:
        got = {i: store.get_request(i) for i in (escalated, last_tier, top, fine)}
        assert (got[escalated].sla_window_started_at, got[escalated].sla_window_breached_at) == (BREACHED, None)
        for reported in (last_tier, top):
            assert (got[reported].sla_window_started_at, got[reported].sla_window_breached_at) == (None, BREACHED)
        assert (got[fine].sla_window_started_at, got[fine].sla_window_breached_at) == (None, None)
        assert all(r.sla_breached_at == BREACHED for i, r in got.items() if i != fine)
    finally:
        engine.dispose()


def test_0005_downgrades_and_upgrades_again(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        _alembic(engine, command.downgrade, "0004")
        assert not {c["name"] for c in inspect(engine).get_columns("requests")} & set(NEW_COLUMNS)
        migrate(engine)
        assert set(NEW_COLUMNS) <= {c["name"] for c in inspect(engine).get_columns("requests")}
    finally:
        engine.dispose()
