"""Runs, their steps and approvals in the store.

Claiming is a compare-and-set UPDATE (status and lease checked in the WHERE clause), so of several
workers on one PostgreSQL, or threads on one SQLite file, exactly one gets each step; a worker that
dies leaves a lease that expires, and the step is claimed again (the directory verbs are idempotent).

A claim is identified by its ``lease_until``: a step is re-claimed only once that moment has passed, and
the new lease runs from later than that, so every claim of a step has a lease of its own, later than any
before it. The engine writes what it did with ``expect_lease`` set to its claim's lease (a fencing token):
a worker that overran its lease and was replaced finds the row changed and its write is dropped.
"""
from __future__ import annotations

import logging
from dataclasses import fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from connectors.store.live import live_keys
from connectors.store.outbox import enqueue
from connectors.store.readiness import lock_run, release_waiting, waiting_on
from connectors.store.tables import approvals, checklist_runs, checklist_steps, digest_log, people
from workflows.models import FINISHED_STEPS, LIVE_RUNS, Announcement, Approval, Run, RunStep
from workflows.ports import LiveRunExists, UsernameHeld

log = logging.getLogger(__name__)
_ANY: Any = object()   # expect_lease not given: the lease is not checked

_RUN = [f.name for f in fields(Run) if f.name not in ("id", "created_at", "updated_at")]
_STEP = [f.name for f in fields(RunStep) if f.name not in ("id", "updated_at")]
_APPROVAL = [f.name for f in fields(Approval) if f.name not in ("id", "created_at")]
_STEP_AS = {c.name: c.label(f"step_{c.name}") for c in checklist_steps.c}  # a step's columns beside its run's


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _run(row: Any) -> Run:
    return Run(**{k: row[k] for k in _RUN}, id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"])


def _step(row: Any) -> RunStep:
    values = {k: row[k] for k in _STEP}
    values["requires"] = tuple(values["requires"] or ())
    values["position"] = values["position"] or 0
    return RunStep(**values, id=row["id"], updated_at=row["updated_at"])


def _approval(row: Any) -> Approval:
    values = {k: row[k] for k in _APPROVAL}
    values["summary"] = values["summary"] or ""
    return Approval(**values, id=row["id"], created_at=row["created_at"])


def _live(run: Run) -> dict[str, str | None]:
    return live_keys(run.kind, run.status, run.person or {})


def _step_values(step: RunStep) -> dict[str, Any]:
    values = {k: getattr(step, k) for k in _STEP}
    values["requires"] = list(step.requires)
    return values


class RunStoreMixin:
    engine: Any

    # runs -------------------------------------------------------------------------
    def create_run(self, run: Run, steps: Iterable[RunStep]) -> tuple[Run, bool]:
        """Store a run and its steps in one transaction; (existing run, False) for a known idempotency key.

        A live run holds its person and its username (``live.py``): ``LiveRunExists`` when this kind of run is
        already under way for the person, ``UsernameHeld`` when another live run of this kind has the username."""
        if run.idempotency_key:
            existing = self.find_run_by_key(run.idempotency_key)
            if existing:
                return existing, False
        now = _now()
        steps = list(steps)
        statuses = {s.step_key: s.status for s in steps}
        try:
            with self.engine.begin() as conn:
                person_id = conn.execute(insert(people).values(
                    display_name=run.display_name[:200], created_at=now, updated_at=now,
                    email=None, department=run.person.get("department"), title=run.person.get("title"),
                    timezone=run.person.get("timezone")).returning(people.c.id)).scalar_one()
                values = {k: getattr(run, k) for k in _RUN} | {"person_id": person_id} | _live(run)
                run_id = conn.execute(insert(checklist_runs).values(**values, created_at=now, updated_at=now)
                                      .returning(checklist_runs.c.id)).scalar_one()
                for step in steps:
                    conn.execute(insert(checklist_steps).values(
                        **_step_values(replace(step, run_id=run_id)), updated_at=now,
                        waiting_on=waiting_on(step.status, step.requires, statuses)))
        except IntegrityError:
            existing = self.find_run_by_key(run.idempotency_key) if run.idempotency_key else None
            if existing is not None:
                return existing, False
            self._raise_live_conflict(run)
            raise
        return self.get_run(run_id), True

    def _raise_live_conflict(self, run: Run) -> None:
        """After a refused insert: the live run holding the person, or the username, if that was the reason."""
        holder = self.find_live_run(run.kind, {"employee_id": run.person.get("employee_id")})
        if holder is not None:
            raise LiveRunExists(holder) from None
        username = run.person.get("username")
        if username and self.find_live_run(run.kind, {"username": username}) is not None:
            raise UsernameHeld(username) from None

    def find_live_run(self, kind: str, person: dict[str, Any]) -> Run | None:
        """The live run of ``kind`` for this person: the one with their employee id, else the one with their
        username (an indexed lookup on the live keys)."""
        keys = {column: key for column, key in live_keys(kind, LIVE_RUNS[0], person).items() if key}
        if not keys:
            return None
        query = select(checklist_runs).where(or_(*(checklist_runs.c[column] == key for column, key in keys.items())))
        with self.engine.connect() as conn:
            rows = sorted(conn.execute(query).mappings(), key=lambda row: row["live_key"] != keys.get("live_key"))
        return _run(rows[0]) if rows else None

    def find_run_by_key(self, key: str) -> Run | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(checklist_runs).where(checklist_runs.c.idempotency_key == key)).mappings().first()
        return _run(row) if row else None

    def get_run(self, run_id: int) -> Run | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(checklist_runs).where(checklist_runs.c.id == run_id)).mappings().first()
        return _run(row) if row else None

    def list_runs(self, *, status: str | None = None) -> list[Run]:
        query = select(checklist_runs).order_by(checklist_runs.c.id)
        if status:
            query = query.where(checklist_runs.c.status == status)
        with self.engine.connect() as conn:
            return [_run(r) for r in conn.execute(query).mappings()]

    def save_run(self, run: Run, *, announce: Iterable[Announcement] = (), columns: Iterable[str] | None = None) -> Run:
        """Write a run (``columns``: only those); its live keys follow its status in the same statement (cleared
        once it has ended); ``announce`` goes to the outbox in the same transaction."""
        if columns is None:
            values = {k: getattr(run, k) for k in _RUN} | _live(run)
        else:   # a few columns (where its card is): status, and so the live keys, are not touched
            values = {k: getattr(run, k) for k in columns}
        with self.engine.begin() as conn:
            conn.execute(update(checklist_runs).where(checklist_runs.c.id == run.id).values(**values, updated_at=_now()))
            enqueue(conn, announce)
        return self.get_run(run.id)

    def runs_with_steps(self, statuses: Iterable[str]) -> list[tuple[Run, list[RunStep]]]:
        """Every run in ``statuses`` with all its steps (in order), by run id: one statement for any number of runs,
        so the runs and their steps are read at one moment."""
        query = (select(checklist_runs, *_STEP_AS.values())
                 .outerjoin(checklist_steps, checklist_steps.c.run_id == checklist_runs.c.id)
                 .where(checklist_runs.c.status.in_(tuple(statuses)))
                 .order_by(checklist_runs.c.id, checklist_steps.c.position, checklist_steps.c.id))
        found: dict[int, tuple[Run, list[RunStep]]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                if row["id"] not in found:
                    found[row["id"]] = (_run(row), [])
                if row["step_id"] is not None:  # a run without steps comes back once, its step columns all null
                    found[row["id"]][1].append(_step({name: row[label.name] for name, label in _STEP_AS.items()}))
        return list(found.values())

    # steps ------------------------------------------------------------------------
    def list_steps(self, run_id: int) -> list[RunStep]:
        query = select(checklist_steps).where(checklist_steps.c.run_id == run_id).order_by(
            checklist_steps.c.position, checklist_steps.c.id)
        with self.engine.connect() as conn:
            return [_step(r) for r in conn.execute(query).mappings()]

    def get_step(self, step_id: int) -> RunStep | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(checklist_steps).where(checklist_steps.c.id == step_id)).mappings().first()
        return _step(row) if row else None

    def save_step(self, step: RunStep, *, expect_status: str | None = None, expect_lease: datetime | None = _ANY,
                  columns: Iterable[str] | None = None, announce: Iterable[Announcement] = ()) -> RunStep | None:
        """Write a step; with ``expect_status`` only if it is still in that status, with ``expect_lease`` only if
        its lease is still that one (None: no lease), else None. ``columns`` writes only those columns.
        ``announce`` goes to the outbox in the same transaction, only if the step was written."""
        query = update(checklist_steps).where(checklist_steps.c.id == step.id)
        if expect_status:
            query = query.where(checklist_steps.c.status == expect_status)
        if expect_lease is not _ANY:
            query = query.where(checklist_steps.c.lease_until.is_(None) if expect_lease is None
                                else checklist_steps.c.lease_until == expect_lease)
        values = _step_values(step)
        if columns is not None:
            values = {k: values[k] for k in columns}
        finishing = values.get("status") in FINISHED_STEPS
        with self.engine.begin() as conn:
            if finishing:
                lock_run(conn, step.run_id)
            changed = conn.execute(query.values(**values, updated_at=_now())).rowcount
            if changed and finishing:   # in this transaction: a step is never finished with dependents left waiting
                release_waiting(conn, step.run_id)
            if changed:
                enqueue(conn, announce)
        return self.get_step(step.id) if changed else None

    def settle_waiting(self, run_id: int) -> None:
        """Set what each pending step of the run waits on, from its steps as they stand (for a step stored
        without it; ``save_step`` keeps it up to date otherwise)."""
        with self.engine.begin() as conn:
            lock_run(conn, run_id)
            release_waiting(conn, run_id)

    def due_step_ids(self, now: datetime, limit: int = 50) -> list[int]:
        """Steps that can move now, in the order to take them: the highest priority first (a terminate-now
        offboarding's protective steps), then fairly across runs (each run's first due step, oldest first, then
        each run's second, …). Steps waiting on another step (``waiting_on``) or on an approval
        (``awaiting_approval``) are not among them, so this grows with the work that can move, not the runs."""
        s = checklist_steps.c
        turn = func.row_number().over(partition_by=s.run_id, order_by=(s.priority.desc(), s.due_at, s.position))
        movable = (select(s.id, s.priority, s.due_at, turn.label("turn"))
                   .join(checklist_runs, checklist_runs.c.id == s.run_id)
                   .where(checklist_runs.c.status.in_(LIVE_RUNS))
                   .where(or_(and_(s.status == "pending", s.waiting_on.is_(None), s.due_at <= now,
                                   or_(s.next_attempt_at.is_(None), s.next_attempt_at <= now)),
                              and_(s.status == "running", s.lease_until < now)))).subquery()
        query = (select(movable.c.id).order_by(movable.c.priority.desc(), movable.c.turn, movable.c.due_at,
                                               movable.c.id).limit(limit))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def claim_step(self, step_id: int, worker: str, now: datetime, lease: timedelta) -> RunStep | None:
        """Take a due step for this worker; None when another worker has it (or it is not due).

        The step comes back with its new ``lease_until``, the claim's token: pass it as ``expect_lease`` (with
        ``expect_status="running"``) to write what came of it, or ``renew_lease`` to keep it longer."""
        until = now + lease
        query = (update(checklist_steps).where(checklist_steps.c.id == step_id)
                 .where(or_(checklist_steps.c.status == "pending",
                            and_(checklist_steps.c.status == "running", checklist_steps.c.lease_until < now)))
                 .values(status="running", lease_until=until, updated_at=now))
        with self.engine.begin() as conn:
            if conn.execute(query).rowcount != 1:
                return None
            row = conn.execute(select(checklist_steps).where(checklist_steps.c.id == step_id)).mappings().one()
        step = _step(row)
        if step.lease_until != until:   # re-claimed meanwhile (only after this lease ran out): not ours
            return None
        log.debug("step claimed", extra={"step": step_id, "worker": worker, "lease_until": until.isoformat()})
        return step

    def renew_lease(self, step: RunStep, until: datetime) -> RunStep | None:
        """Extend the lease of a step this worker still holds (status running, lease ``step.lease_until``);
        the step with its new lease, or None when the claim was lost."""
        query = (update(checklist_steps).where(checklist_steps.c.id == step.id)
                 .where(checklist_steps.c.status == "running", checklist_steps.c.lease_until == step.lease_until)
                 .values(lease_until=until))
        with self.engine.begin() as conn:
            if conn.execute(query).rowcount != 1:
                return None
        return replace(step, lease_until=until)

    # approvals ----------------------------------------------------------------------
    def create_approval(self, approval: Approval, *, announce: Callable[[int], Iterable[Announcement]] | None = None
                        ) -> Approval:
        """Store an approval; ``announce(new_id)`` gives what to add to the outbox in the same transaction."""
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(approvals).values(
                **{k: getattr(approval, k) for k in _APPROVAL}, created_at=_now()).returning(approvals.c.id)).scalar_one()
            if announce is not None:
                enqueue(conn, announce(new_id))
        return self.get_approval(new_id)

    def get_approval(self, approval_id: int) -> Approval | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id)).mappings().first()
        return _approval(row) if row else None

    def list_approvals(self, *, status: str | None = None, run_id: int | None = None,
                       expired_at: datetime | None = None) -> list[Approval]:
        """Approvals by id; only those in ``status``, of ``run_id``, expired by ``expired_at`` when given."""
        query = select(approvals).order_by(approvals.c.id)
        if status:
            query = query.where(approvals.c.status == status)
        if run_id is not None:
            query = query.where(approvals.c.run_id == run_id)
        if expired_at is not None:
            query = query.where(approvals.c.expires_at < expired_at)
        with self.engine.connect() as conn:
            return [_approval(r) for r in conn.execute(query).mappings()]

    def save_approval(self, approval: Approval, *, expect: dict[str, Any] | None = None,
                      columns: Iterable[str] | None = None, announce: Iterable[Announcement] = ()) -> Approval | None:
        """Write an approval; with ``expect`` only if those columns still hold those values (else None).

        ``columns`` writes only those columns, so two decisions on different halves of a privileged approval
        (IT's, Security's) made at the same moment both stay."""
        query = update(approvals).where(approvals.c.id == approval.id)
        for column, value in (expect or {}).items():
            query = query.where(approvals.c[column].is_(None) if value is None else approvals.c[column] == value)
        names = _APPROVAL if columns is None else list(columns)
        with self.engine.begin() as conn:
            changed = conn.execute(query.values(**{k: getattr(approval, k) for k in names})).rowcount
            if changed:
                enqueue(conn, announce)
        return self.get_approval(approval.id) if changed else None

    # daily digests -------------------------------------------------------------------
    def claim_digest(self, user: str, local_date: str, items: int, *, announce: Iterable[Announcement] = ()) -> bool:
        """Record today's digest for ``user``, with the message in the outbox (one transaction); False when one was
        already recorded today."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(digest_log).values(user_slack_id=user, local_date=local_date, sent_at=_now(),
                                                       items=items))
                enqueue(conn, announce)
        except IntegrityError:
            return False
        return True

    def open_tasks(self) -> list[tuple[Run, RunStep]]:
        """Every step waiting for a person (status "task") with its run."""
        query = (select(checklist_steps, checklist_runs.c.id.label("rid")).join(
            checklist_runs, checklist_runs.c.id == checklist_steps.c.run_id)
            .where(checklist_steps.c.status == "task").order_by(checklist_steps.c.due_at))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
            runs = {r["id"]: _run(r) for r in conn.execute(select(checklist_runs).where(
                checklist_runs.c.id.in_({row["rid"] for row in rows}))).mappings()} if rows else {}
        return [(runs[row["rid"]], _step(row)) for row in rows]
