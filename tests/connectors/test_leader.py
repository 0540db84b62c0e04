"""One clock of several runs the jobs: the database lock (PostgreSQL advisory lock, SQLite lock file)."""
from __future__ import annotations

from connectors.store import make_engine
from connectors.store.leader import Leadership


def test_only_one_of_two_clocks_leads_and_the_other_takes_over(database_url):
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        one, two = Leadership(first), Leadership(second)
        assert one.try_acquire() is True
        assert two.try_acquire() is False, "a second clock stays idle"
        assert one.try_acquire() is True, "the leader keeps leading"
        one.release()
        assert two.try_acquire() is True, "when the leader goes, the other takes over"
        two.release()
    finally:
        first.dispose()
        second.dispose()


def test_the_scheduler_keeps_stable_job_ids_in_the_database(tmp_path):
    from bot.clock import JOBS, build_scheduler

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    for _ in range(2):   # a restart re-registers the same jobs, never duplicates
        scheduler = build_scheduler(url)
        scheduler.start(paused=True)
        assert sorted(job.id for job in scheduler.get_jobs()) == sorted([*JOBS, "weekly-summary"])
        scheduler.shutdown(wait=False)


def test_housekeeping_job_forgets_event_ids_older_than_two_days(tmp_path):
    from dataclasses import replace
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from bot import clock
    from bot.settings import Settings
    from connectors.services import build_services
    from connectors.store.tables import processed_events

    settings = replace(Settings.from_env({}, require_slack=False), database_url=f"sqlite:///{tmp_path / 'h.db'}",
                       directory_mode="sandbox")
    services = build_services(settings)
    try:
        services.store.mark_event_seen("Ev0STALE")
        with services.store.engine.begin() as conn:
            conn.execute(update(processed_events).values(seen_at=datetime.now(timezone.utc) - timedelta(days=5)))
        clock._RUNTIME.update(services=services, client=None)
        clock.run_job("housekeeping")
        assert services.store.mark_event_seen("Ev0STALE") is True
    finally:
        clock._RUNTIME.clear()
        services.close()
