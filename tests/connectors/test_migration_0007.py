"""Revision 0007 (waiting steps, priorities, live keys) on a store holding runs made before it."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect

from connectors.store import migrate, make_engine
from connectors.store.sql import SqlStore
from tests.connectors.test_migration_0005 import _alembic

AT = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
NAIVE = AT.replace(tzinfo=None)
PEOPLE = sa.table("people", sa.column("id"), sa.column("display_name"), sa.column("created_at"),
                  sa.column("updated_at"))
RUNS = sa.table("checklist_runs", sa.column("id"), sa.column("kind"), sa.column("person_id"),
                sa.column("requested_by"), sa.column("status"), sa.column("effective_date"), sa.column("created_at"),
                sa.column("updated_at"), sa.column("person", sa.JSON()))
STEPS = sa.table("checklist_steps", sa.column("id"), sa.column("run_id"), sa.column("step_key"), sa.column("title"),
                 sa.column("team"), sa.column("status"), sa.column("due_at"), sa.column("attempts"),
                 sa.column("updated_at"), sa.column("position"), sa.column("requires", sa.JSON()))


def _old_run(conn, kind: str, status: str, person: dict, steps: list[tuple[str, str, list[str]]]) -> int:
    person_id = conn.execute(PEOPLE.insert().values(display_name="x", created_at=NAIVE, updated_at=NAIVE)
                             .returning(PEOPLE.c.id)).scalar_one()
    run_id = conn.execute(RUNS.insert().values(kind=kind, person_id=person_id, requested_by="U0HR1", status=status,
                                               effective_date="2026-12-01", created_at=NAIVE, updated_at=NAIVE,
                                               person=person).returning(RUNS.c.id)).scalar_one()
    for position, (key, step_status, requires) in enumerate(steps):
        conn.execute(STEPS.insert().values(run_id=run_id, step_key=key, title=key, team="helpdesk_l1",
                                           status=step_status, due_at=NAIVE, attempts=0, updated_at=NAIVE,
                                           position=position, requires=requires))
    return run_id


def test_0007_carries_waiting_steps_and_live_runs_over(database_url):
    engine = make_engine(database_url)
    _alembic(engine, command.upgrade, "0006")
    hire = {"given_name": "Ana", "surname": "Lima", "employee_id": "E1", "username": "ana.lima"}
    with engine.begin() as conn:
        live = _old_run(conn, "onboarding", "active", hire, [
            ("welcome", "task", []), ("account", "done", []), ("laptop", "pending", ["welcome"]),
            ("groups", "pending", ["account"]), ("mfa", "pending", ["account", "laptop"])])
        twin = _old_run(conn, "onboarding", "blocked", hire, [("welcome", "pending", [])])   # the old race's second
        ended = _old_run(conn, "onboarding", "done", {**hire, "employee_id": "E2", "username": "ana.l"}, [])
        leaver = _old_run(conn, "offboarding", "active", {"username": "Sam.Reed"}, [])
    migrate(engine)
    store = SqlStore(engine)
    try:
        waits = {s.step_key: s for s in store.list_steps(live)}
        with engine.connect() as conn:
            waiting = dict(conn.execute(sa.text("SELECT step_key, waiting_on FROM checklist_steps WHERE run_id = :r"),
                                        {"r": live}).all())
            keys = {row[0]: row[1:] for row in conn.execute(sa.text(
                "SELECT id, live_key, live_username FROM checklist_runs"))}
        assert waiting == {"welcome": None, "account": None, "laptop": "welcome", "groups": None, "mfa": "laptop"}
        assert {s.priority for s in waits.values()} == {0}
        assert store.due_step_ids(AT) == [waits["groups"].id] + [s.id for s in store.list_steps(twin)]
        assert keys[live] == ("onboarding:E1", "onboarding:ana.lima")
        assert keys[twin] == (None, None), "the oldest live run keeps the person; the other still runs"
        assert keys[ended] == (None, None) and keys[leaver] == (None, "offboarding:sam.reed")
        assert store.find_live_run("onboarding", {"employee_id": "E1"}).id == live
        assert store.find_live_run("offboarding", {"username": "sam.reed"}).id == leaver
    finally:
        engine.dispose()


def test_0007_downgrades_and_upgrades_again(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        _alembic(engine, command.downgrade, "0006")
        assert not {c["name"] for c in inspect(engine).get_columns("checklist_runs")} & {"live_key", "live_username"}
        assert not {c["name"] for c in inspect(engine).get_columns("checklist_steps")} & {"waiting_on", "priority"}
        migrate(engine)
        assert {"waiting_on", "priority"} <= {c["name"] for c in inspect(engine).get_columns("checklist_steps")}
    finally:
        engine.dispose()


def test_upgrading_a_store_keeps_every_step_of_its_runs(database_url):
    """SQLite's batch mode copies a table and drops the old one (0006 does so with checklist_runs): the steps
    pointing at it (ON DELETE CASCADE) must not go with it."""
    engine = make_engine(database_url)
    _alembic(engine, command.upgrade, "0005")
    with engine.begin() as conn:
        run = _old_run(conn, "onboarding", "active", {"employee_id": "E9"}, [("welcome", "task", []),
                                                                             ("laptop", "pending", ["welcome"])])
    migrate(engine)
    try:
        assert [s.step_key for s in SqlStore(engine).list_steps(run)] == ["welcome", "laptop"]
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
