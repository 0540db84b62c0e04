"""One clock of several runs the jobs: the database lock (PostgreSQL advisory lock, SQLite lock file)."""
from __future__ import annotations

import pytest

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


def _backend_pid(leadership) -> int:
    from sqlalchemy import text
    pid = leadership._held.execute(text("SELECT pg_backend_pid()")).scalar()
    leadership._held.commit()
    return pid


def _terminate(url: str, pid: int) -> None:
    from sqlalchemy import create_engine, text

    from connectors.store import normalise_url
    admin = create_engine(normalise_url(url))
    try:
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True
        # the backend exits (and the server drops its locks) a moment after it is told to
        _wait_for(lambda: not _alive(admin, pid))
    finally:
        admin.dispose()


def _alive(admin, pid: int) -> bool:
    from sqlalchemy import text
    with admin.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar())


def test_a_leader_still_holds_its_lock_until_it_releases_it(database_url):
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        one, two = Leadership(first), Leadership(second)
        assert one.still_held() is False, "not acquired yet"
        assert one.try_acquire() and one.still_held() and one.still_held()
        assert two.still_held() is False
        one.release()
        assert one.still_held() is False
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
def test_a_leader_whose_connection_was_terminated_knows_it_lost_the_lock(postgres_url):
    first, second = make_engine(postgres_url), make_engine(postgres_url)
    try:
        one, two = Leadership(first), Leadership(second)
        assert one.try_acquire() and not two.try_acquire()
        _terminate(postgres_url, _backend_pid(one))   # a failover, an admin, a network cut: the server drops it
        assert two.try_acquire() is True, "the server released the lock with the connection"
        assert one.still_held() is False, "the first clock notices"
        assert one.try_acquire() is False, "and waits: the second one leads now"
        assert two.still_held() is True
        one.release()   # nothing to release; must not fail
        two.release()
    finally:
        first.dispose()
        second.dispose()


class _Scheduler:
    """Stands in for APScheduler: records whether it is running (jobs would fire only then)."""

    def __init__(self, name, log):
        self.name, self.log, self.running = name, log, False

    def start(self):
        self.running = True
        self.log.append(("start", self.name))

    def shutdown(self, wait=True):
        self.running = False
        self.log.append(("stop", self.name))


def _wait_for(condition, seconds=10.0):
    import time
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.postgres
def test_a_clock_that_lost_its_lock_stops_its_jobs_and_the_other_clock_takes_over(postgres_url):
    import threading

    from bot.clock import lead

    first, second = make_engine(postgres_url), make_engine(postgres_url)
    one, two = Leadership(first), Leadership(second)
    log: list = []
    schedulers = {"one": [], "two": []}

    def make(name):
        def build():
            schedulers[name].append(_Scheduler(name, log))
            return schedulers[name][-1]
        return build

    stop = threading.Event()
    threads = [threading.Thread(target=lead, args=(one, make("one"), stop), kwargs={"poll_seconds": 0.05})]
    try:
        threads[0].start()
        _wait_for(lambda: one.held and schedulers["one"] and schedulers["one"][-1].running)
        threads.append(threading.Thread(target=lead, args=(two, make("two"), stop), kwargs={"poll_seconds": 0.05}))
        threads[1].start()
        import time
        time.sleep(0.3)
        assert schedulers["two"] == [], "while the first clock leads, the second waits"
        _terminate(postgres_url, _backend_pid(one))
        _wait_for(lambda: schedulers["two"] and schedulers["two"][-1].running)
        _wait_for(lambda: not schedulers["one"][-1].running)
        time.sleep(0.3)
        assert [s.running for s in schedulers["one"]] == [False] * len(schedulers["one"]), \
            "the first clock runs no jobs once it lost the lock"
        assert len(schedulers["one"]) == 1 and len(schedulers["two"]) == 1
        assert two.still_held() and not one.held
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        one.release()
        two.release()
        first.dispose()
        second.dispose()
