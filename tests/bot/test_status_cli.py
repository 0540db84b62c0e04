"""`itbot status`: the worker's queue on a store with known content (text and --json)."""
from __future__ import annotations

import io
import json
from contextlib import closing
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from bot.cli import build_parser
from bot.status_cli import run_status
from connectors.store import build_store
from tests.support.statements import statements_sent
from connectors.store.outbox import enqueue
from connectors.store.tables import outbox
from sqlalchemy import update
from workflows.models import Announcement, Run, RunStep

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)


def _step(key: str, status: str = "pending", due: timedelta = -timedelta(hours=1), **more) -> RunStep:
    return RunStep(run_id=0, step_key=key, title=key, team="helpdesk_l1", status=status, due_at=NOW + due, **more)


def seed(store) -> None:
    def run(key: str, steps: list[RunStep], **more) -> Run:
        made, _ = store.create_run(Run(kind="onboarding", person={"given_name": key, "surname": "Test"},
                                       requested_by="U0HR1", effective_date="2027-03-01", idempotency_key=key,
                                       **more), steps)
        return made

    run("a", [_step("welcome", "task"), _step("laptop", requires=("welcome",)),
              _step("badge", due=-timedelta(hours=2)), _step("later", due=timedelta(days=2)),
              _step("account", "awaiting_approval")])
    run("b", [_step("account", "running", lease_until=NOW - timedelta(minutes=1)),
              _step("groups", requires=("account",))])
    run("c", [_step("disable", priority=1, due=-timedelta(minutes=1))], status="blocked")
    run("d", [_step("forgotten", due=-timedelta(days=9))], status="done")
    with store.engine.begin() as conn:   # three messages to send, ten minutes old; one Slack refused
        enqueue(conn, [Announcement("run:1", "task", {"run_id": 1})] * 3, NOW - timedelta(minutes=10))
        conn.execute(update(outbox).where(outbox.c.id == 3).values(status="failed", last_error="not_in_channel"))


@pytest.fixture
def settings(database_url):
    """A store (SQLite, then PostgreSQL) holding ``seed``'s runs, as ``itbot status`` finds it by DATABASE_URL."""
    found = SimpleNamespace(database_url=database_url)
    with closing(build_store(found.database_url)) as store:
        seed(store)
    return found


def status(argv, settings) -> str:
    out = io.StringIO()
    assert run_status(argv, out, settings=settings, now=NOW) == 0
    return out.getvalue()


def test_the_queue_as_text(settings):
    lines = status([], settings).splitlines()
    assert lines[0] == "itbot queue at 2027-03-01 09:00 UTC: 3 live run(s)"
    assert "  due now                           2   (1 terminate-now)   oldest due for 2h 00m" in lines
    for label, count in [("running", 0), ("running, lease expired", 1), ("awaiting approval", 1),
                         ("waiting on another step", 2), ("  on a person's task", 1), ("  on a step being run", 1),
                         ("open tasks (people)", 1), ("scheduled, not yet due", 1)]:
        assert any(line.startswith(f"  {label:<28}{count:>7}") for line in lines), (label, lines)
    assert lines[lines.index("outbox (messages to people)") + 1:] == [
        "  to send                           2   oldest waiting for 10m",
        "  being sent                        0",
        "  failed (see the logs)             1"]


def test_the_queue_as_json(settings):
    data = json.loads(status(["--json"], settings))
    assert data["at"] == NOW.isoformat()
    assert data["outbox"] == {"pending": 2, "sending": 0, "failed": 1, "oldest_pending_seconds": 600}
    assert data["steps"] == {"live_runs": 3, "due": 2, "urgent_due": 1, "oldest_due_at": "2027-03-01T07:00:00+00:00",
                             "oldest_due_seconds": 7200, "running": 0, "expired_leases": 1, "awaiting_approval": 1,
                             "open_tasks": 1, "scheduled": 1, "waiting": {"running": 1, "task": 1}}


def test_the_counts_take_two_statements_whatever_the_store_holds(settings):
    with closing(build_store(settings.database_url)) as store, statements_sent(store.engine) as sent:
        store.queue_status(NOW)
    assert len(sent) == 2


def test_itbot_status_is_a_command():
    args = build_parser().parse_args(["status", "--json"])
    assert args.json and args.func.__name__ == "_status"
