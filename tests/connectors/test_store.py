"""The store against SQLite and the real PostgreSQL: schema, round trips, de-duplication, concurrency."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from connectors.store import build_store, current_revision, head_revision, make_engine
from connectors.store.tables import metadata
from workflows.models import ItRequest, Person
from workflows.ports import StoreError


@pytest.fixture
def store(database_url):
    s = build_store(database_url)
    yield s
    s.close()


def test_start_migrates_to_head_and_schema_matches_models(store):
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_second_start_on_a_migrated_database_changes_nothing(database_url, store):
    store.save_request(ItRequest(requester_slack_id="U1", summary="kept across restarts"))
    again = build_store(database_url)
    assert [r.summary for r in again.list_requests()] == ["kept across restarts"]
    again.close()


def test_replicas_starting_together_migrate_once_without_error(database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    replicas = [subprocess.Popen([sys.executable, "-m", "bot", "migrate"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in replicas]
    assert [o[0] for o in outcomes] == [0, 0, 0], outcomes
    assert all(f"schema at revision {head_revision()}" in o[1] for o in outcomes)
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_request_round_trip_gets_a_number_and_timestamps(store):
    saved = store.save_request(ItRequest(requester_slack_id="U1", summary="Laptop won't boot", priority="P2",
                                         team="helpdesk_l1", description="black screen since this morning"))
    assert saved.id is not None and saved.number == f"IT-{saved.id:05d}"
    assert saved.created_at is not None and saved.created_at.tzinfo is not None
    loaded = store.get_request(saved.id)
    assert loaded == saved


def test_request_update_keeps_number_and_changes_status(store):
    saved = store.save_request(ItRequest(requester_slack_id="U1", summary="VPN drops"))
    from dataclasses import replace
    updated = store.save_request(replace(saved, status="resolved", assignee="U9"))
    assert updated.id == saved.id and updated.status == "resolved" and updated.assignee == "U9"
    assert [r.id for r in store.list_requests(status="resolved")] == [saved.id]
    assert store.list_requests(requester_slack_id="U2") == []


def test_updating_a_missing_request_is_an_error_not_a_silent_insert(store):
    with pytest.raises(LookupError):
        store.save_request(ItRequest(requester_slack_id="U1", summary="ghost", id=999))
    assert store.list_requests() == []


def test_person_is_upserted_by_slack_id(store):
    first = store.save_person(Person(display_name="Ana Lima", slack_user_id="U0ANA", timezone="Europe/Lisbon"))
    second = store.save_person(Person(display_name="Ana Lima-Souza", slack_user_id="U0ANA", timezone="Europe/Lisbon"))
    assert first.id == second.id
    assert store.get_person_by_slack_id("U0ANA").display_name == "Ana Lima-Souza"
    assert store.get_person_by_slack_id("U0NOBODY") is None


def test_audit_trail_never_keeps_a_password_or_token(store):
    store.audit("U0IT", "account.password_set", "user:jdoe",
                {"password": "Sup3r-Secret!", "note": "used token xoxb-123-456-abc", "dn": "CN=J Doe"})
    [entry] = store.audit_trail("user:jdoe")
    text = repr(entry)
    assert "Sup3r-Secret!" not in text and "xoxb-123-456-abc" not in text
    assert entry.detail["dn"] == "CN=J Doe" and entry.actor == "U0IT"


def test_event_ids_are_handled_once_even_when_raced(store):
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(store.mark_event_seen("Ev0RACE"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert store.mark_event_seen("Ev0OTHER") is True


def test_unreachable_database_is_one_clear_error():
    with pytest.raises(StoreError, match="cannot open the database at postgresql\\+psycopg://nobody:\\*\\*\\*@127.0.0.1:1/x"):
        build_store("postgresql://nobody:hunter2@127.0.0.1:1/x")


def test_manager_is_linked_by_slack_id_and_unknown_manager_is_refused(store):
    store.save_person(Person(display_name="Ben Okafor", slack_user_id="U0BEN"))
    store.save_person(Person(display_name="Ana Lima", slack_user_id="U0ANA", manager_slack_id="U0BEN"))
    assert store.get_manager_slack_id("U0ANA") == "U0BEN"
    assert store.get_person_by_slack_id("U0ANA").manager_slack_id == "U0BEN"
    with pytest.raises(LookupError, match="manager U0GHOST is not a known person"):
        store.save_person(Person(display_name="Dev Patel", slack_user_id="U0DEV", manager_slack_id="U0GHOST"))
    assert store.get_person_by_slack_id("U0DEV") is None


def test_requests_are_found_by_employee_thread_or_team_card(store):
    saved = store.save_request(ItRequest(requester_slack_id="U1", summary="printer jam", channel="D1",
                                         thread_ts="100.1", team_channel="C0L1", team_ts="200.2",
                                         priority_reasons=("affects everyone", "VIP requester")))
    assert store.find_request_by_thread("D1", "100.1").id == saved.id
    assert store.find_request_by_thread("C0L1", "200.2").id == saved.id
    assert store.find_request_by_thread("C0L1", "100.1") is None
    assert saved.priority_reasons == ("affects everyone", "VIP requester")


def test_answer_log_keeps_deflection_outcomes(store):
    from workflows.models import AnswerRecord
    rec = store.record_answer(AnswerRecord(user_slack_id="U1", question="how do I reset my password", intent="how_to",
                                           topic="account", outcome="answered", article_id="reset-password"))
    from dataclasses import replace
    store.record_answer(replace(rec, outcome="solved"))
    store.record_answer(AnswerRecord(user_slack_id="U2", question="how do I fly", intent="how_to", topic="other",
                                     outcome="no_answer"))
    assert [a.outcome for a in store.list_answers()] == ["solved", "no_answer"]
    assert [a.question for a in store.list_answers(outcome="no_answer")] == ["how do I fly"]


def test_old_event_ids_are_pruned_and_recent_ones_kept(store):
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from connectors.store.tables import processed_events
    store.mark_event_seen("Ev0OLD")
    store.mark_event_seen("Ev0NEW")
    with store.engine.begin() as conn:
        conn.execute(update(processed_events).where(processed_events.c.event_id == "Ev0OLD")
                     .values(seen_at=datetime.now(timezone.utc) - timedelta(days=3)))
    assert store.prune_processed_events(datetime.now(timezone.utc) - timedelta(days=2)) == 1
    assert store.mark_event_seen("Ev0OLD") is True and store.mark_event_seen("Ev0NEW") is False


def test_sla_window_fields_round_trip(store):
    from dataclasses import replace
    from datetime import datetime, timezone

    started, lapsed = (datetime(2026, 11, 25, h, 1, tzinfo=timezone.utc) for h in (10, 12))
    saved = store.save_request(ItRequest(requester_slack_id="U1", summary="keyboard dead", team="helpdesk_l2",
                                         escalations=1, sla_breached_at=started, sla_window_started_at=started))
    assert saved.sla_window_started_at == started and saved.sla_window_breached_at is None
    again = store.save_request(replace(saved, sla_window_breached_at=lapsed))
    assert store.get_request(saved.id) == again and again.sla_window_breached_at == lapsed
