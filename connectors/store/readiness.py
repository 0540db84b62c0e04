"""Which required step a step waits on, and releasing the waiting steps when it finishes.

A step whose ``requires`` are not all finished has ``waiting_on`` set (the key of the first one not finished);
the worker's query passes it by, so waiting on a person's open task costs nothing per pass. Whatever finishes a
step (the worker, a person's Done, a stop) writes it through ``save_step``, which calls ``release_waiting`` in
the same transaction: the steps waiting on it move on to their next unfinished requirement, or become free.
A crash therefore leaves both writes or neither, never a finished step with dependents still waiting on it.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from sqlalchemy import select, update

from connectors.store.tables import checklist_runs, checklist_steps
from workflows.models import FINISHED_STEPS


def waiting_on(status: str, requires: Iterable[str] | None, statuses: Mapping[str, str]) -> str | None:
    """The first of ``requires`` not finished, given the status of each of the run's steps by key (a key the
    run does not have is never finished); None when there is none, or the step is itself finished."""
    if status in FINISHED_STEPS:
        return None
    return next((key for key in requires or () if statuses.get(key) not in FINISHED_STEPS), None)


def lock_run(conn: Any, run_id: int) -> None:
    """Take the run's row lock (PostgreSQL; SQLite has one writer at a time anyway) before writing a step that
    finishes: two of a run's steps finishing at once then release in turn, and the second sees the first.
    Taken before the step's own row, as every transaction that takes both does, so they cannot deadlock."""
    conn.execute(select(checklist_runs.c.id).where(checklist_runs.c.id == run_id).with_for_update())


def release_waiting(conn: Any, run_id: int) -> int:
    """Point each waiting (or pending) step of the run at what it still waits on (None: free); how many changed.
    Call it under ``lock_run``."""
    steps = checklist_steps.c
    rows = conn.execute(select(steps.id, steps.step_key, steps.status, steps.requires, steps.waiting_on)
                        .where(steps.run_id == run_id)).mappings().all()
    statuses = {row["step_key"]: row["status"] for row in rows}
    moves: dict[str | None, list[int]] = {}
    for row in rows:
        if row["waiting_on"] is not None or row["status"] == "pending":
            now_on = waiting_on(row["status"], row["requires"], statuses)
            if now_on != row["waiting_on"]:
                moves.setdefault(now_on, []).append(row["id"])
    return sum(conn.execute(update(checklist_steps).where(steps.id.in_(ids)).values(waiting_on=now_on)).rowcount
               for now_on, ids in moves.items())
