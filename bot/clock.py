"""`itbot clock`: the one process that runs scheduled jobs (APScheduler 3, stable job ids, jobs in the DB).

Several clocks may be started; only the one holding the database lock runs jobs, the others wait and
take over if it goes away. The jobs themselves are sweeps that remember what they did in the store (SLA
warnings per request, one digest per person and local day), so a sweep that runs late or twice sends
nothing twice, and a clock that was down at 09:00 catches up once at its next sweep.
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot.app import make_client
from bot.digests import Digests
from bot.jobs import post_weekly_summary, run_sla_sweep
from bot.logs import configure_logging
from bot.server import metrics_server
from bot.settings import Settings
from connectors.services import build_services
from connectors.store import normalise_url
from connectors.store.leader import Leadership
from workflows.digest import load_reminder_policy

log = logging.getLogger(__name__)
LOST_LOCK_SIT_OUT = 10   # polls a clock that lost its lock waits before trying to lead again
JOBS = {"sla-sweep": 1, "digest-sweep": 5, "housekeeping": 60}   # job id → every N minutes
_RUNTIME: dict[str, Any] = {}


def run_job(name: str) -> None:
    """The scheduler's entry point (referenced by name, so jobs can live in the database's job store)."""
    services, client = _RUNTIME["services"], _RUNTIME["client"]
    if name == "sla-sweep":
        run_sla_sweep(services, client)
    elif name == "digest-sweep":
        _RUNTIME["digests"].send(client)
    elif name == "weekly-summary":
        post_weekly_summary(services, client)
    elif name == "housekeeping":
        now = datetime.now(timezone.utc)
        forgotten = services.store.prune_processed_events(now - timedelta(days=2))
        pruned = services.store.outbox.prune(now - timedelta(days=7))
        log.info("housekeeping", extra={"event_ids_forgotten": forgotten, "outbox_rows_forgotten": pruned})
    else:
        log.error("unknown job", extra={"job": name})


def build_scheduler(database_url: str) -> BackgroundScheduler:
    store = SQLAlchemyJobStore(url=normalise_url(database_url), tablename="itbot_jobs")
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone="UTC",
                                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
    for job_id, minutes in JOBS.items():
        scheduler.add_job("bot.clock:run_job", "interval", minutes=minutes, args=[job_id], id=job_id,
                          replace_existing=True)
    scheduler.add_job("bot.clock:run_job", "cron", day_of_week="mon", hour=8, args=["weekly-summary"],
                      id="weekly-summary", replace_existing=True)
    return scheduler


def run_clock(settings: Settings, *, poll_seconds: float = 15.0) -> int:
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    services = build_services(settings)
    client = make_client(settings)
    _RUNTIME.update(services=services, client=client,
                    digests=Digests(services, services.reminders or load_reminder_policy(settings.config_dir)))
    leader = Leadership(services.store.engine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    metrics = metrics_server(settings, services)
    try:
        lead(leader, lambda: build_scheduler(settings.database_url), stop, poll_seconds=poll_seconds)
    finally:
        if metrics is not None:
            metrics.stop()
        leader.release()
        services.close()
    return 0


def lead(leader: Leadership, make_scheduler: Callable[[], Any], stop: threading.Event, *,
         poll_seconds: float = 15.0) -> None:
    """Until ``stop``: run the jobs while this clock holds the lock, wait while it does not.

    The lock is checked at every poll: a leader whose lock went away (its database connection dropped, so
    another clock may lead now) shuts its scheduler down and goes back to waiting, sitting out a few polls
    first so that a clock that kept its connection takes over rather than the one whose connection failed."""
    scheduler = None
    sit_out = 0
    try:
        while not stop.is_set():
            if scheduler is not None and not leader.still_held():
                log.warning("this clock lost the lock; stopping its jobs and waiting to lead again")
                scheduler.shutdown(wait=True)
                scheduler = None
                sit_out = LOST_LOCK_SIT_OUT
            if sit_out:
                sit_out -= 1
            elif scheduler is None and _try_acquire(leader):
                log.info("this clock is the leader; starting jobs", extra={"jobs": sorted(JOBS)})
                scheduler = make_scheduler()
                scheduler.start()
            stop.wait(poll_seconds)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)


def _try_acquire(leader: Leadership) -> bool:
    try:
        return leader.try_acquire()
    except Exception:   # the database is away (a failover): wait for it rather than stop the clock
        log.warning("could not reach the database for the clock's lock; waiting", exc_info=True)
        return False
