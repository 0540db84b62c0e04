"""The worker's queue at a glance (``itbot status``): two statements, whatever the number of runs.

Counts cover the steps of live runs. "Due" is what the worker's next pass takes (``RunStoreMixin.due_step_ids``);
a running step whose lease has run out is counted apart (a worker died or stalled on it; it is taken again).
Waiting steps are counted by what the step they wait on is doing (a person's task, an approval, …).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, type_coerce

from connectors.store.tables import UTCDateTime, checklist_runs, checklist_steps
from workflows.models import LIVE_RUNS


@dataclass(frozen=True)
class QueueStatus:
    live_runs: int = 0
    due: int = 0
    urgent_due: int = 0                  # of those, a terminate-now offboarding's protective steps
    oldest_due_at: datetime | None = None
    running: int = 0
    expired_leases: int = 0
    awaiting_approval: int = 0
    open_tasks: int = 0                  # steps handed to people (status "task")
    scheduled: int = 0                   # free to run, not yet due (or waiting to retry)
    waiting: dict[str, int] = field(default_factory=dict)   # the waited-on step's status -> how many wait on one


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class QueueStatusMixin:
    engine: Any

    def queue_status(self, now: datetime) -> QueueStatus:
        s = checklist_steps.c
        live = checklist_runs.c.status.in_(LIVE_RUNS)
        free = and_(s.status == "pending", s.waiting_on.is_(None))
        due = and_(free, s.due_at <= now, or_(s.next_attempt_at.is_(None), s.next_attempt_at <= now))
        became_due = case((and_(s.next_attempt_at.is_not(None), s.next_attempt_at > s.due_at), s.next_attempt_at),
                          else_=s.due_at)
        totals = (select(func.count(func.distinct(s.run_id)).label("live_runs"), _count(due).label("due"),
                         _count(and_(due, s.priority > 0)).label("urgent_due"),
                         type_coerce(func.min(case((due, became_due))), UTCDateTime).label("oldest_due_at"),
                         _count(and_(s.status == "running", s.lease_until >= now)).label("running"),
                         _count(and_(s.status == "running", s.lease_until < now)).label("expired_leases"),
                         _count(s.status == "awaiting_approval").label("awaiting_approval"),
                         _count(s.status == "task").label("open_tasks"),
                         _count(and_(free, ~due)).label("scheduled"))
                  .join(checklist_runs, checklist_runs.c.id == s.run_id).where(live))
        waited = checklist_steps.alias("waited")
        waits = (select(waited.c.status, func.count())
                 .select_from(checklist_steps)
                 .join(checklist_runs, checklist_runs.c.id == s.run_id)
                 .join(waited, and_(waited.c.run_id == s.run_id, waited.c.step_key == s.waiting_on))
                 .where(live, s.status == "pending", s.waiting_on.is_not(None))
                 .group_by(waited.c.status))
        with self.engine.connect() as conn:
            row = conn.execute(totals).mappings().one()
            waiting = {status: count for status, count in conn.execute(waits)}
        return QueueStatus(**{k: (row[k] if k == "oldest_due_at" else int(row[k] or 0)) for k in row.keys()},
                           waiting=dict(sorted(waiting.items())))
