"""The checklist engine: start runs, advance due steps, gate account changes on approval.

Everything is in the store, so a process killed mid-run resumes where it stopped: a step being run
holds a lease; when the lease runs out another worker takes it again, and because every directory
verb "ensures" its state, a step interrupted after its change reports "already done" the second time.
A step that keeps failing becomes a task for its owning team, with the error, and the run is blocked.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from workflows.checklist import Checklist
from workflows.checklist_due import anchor_date, due_at, steps_for
from workflows.directory import DirectoryError, Outcome, TransientError
from workflows.hybrid import AwaitingSync
from workflows.engine_approvals import PROTECTIVE, SYSTEM_NAMES, ApprovalsMixin, Notice, RunError
from workflows.models import Run, RunStep
from workflows.run_actions import HandOver, perform

FINISHED = ("done", "cancelled")
__all__ = ["Engine", "Notice", "RunError", "StartedRun", "PROTECTIVE"]


@dataclass(frozen=True)
class StartedRun:
    run_id: int
    created: bool


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _jsonable(person: Any) -> dict[str, Any]:
    if isinstance(person, Mapping):
        data = dict(person)
    elif is_dataclass(person):
        data = {f.name: getattr(person, f.name) for f in fields(person)}
    else:
        data = dict(vars(person))
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in data.items() if v is not None}


class Engine(ApprovalsMixin):
    def __init__(self, *, store: Any, checklists: Mapping[str, Checklist], teams: Any, policy: Any,
                 directories: Mapping[str, Any] | None = None, default_timezone: str = "UTC",
                 choose_username: Callable[[dict[str, Any]], str] | None = None,
                 clock: Callable[[], datetime] = _utcnow, max_attempts: int = 4,
                 backoff: timedelta = timedelta(minutes=1), lease: timedelta = timedelta(minutes=5),
                 sync_poll: timedelta = timedelta(minutes=10), sync_wait: timedelta = timedelta(hours=4),
                 directory_policy: Any = None):
        self.store, self.checklists, self.teams, self.policy = store, checklists, teams, policy
        self.directories = dict(directories or {})
        self.default_timezone = default_timezone
        self.choose_username = choose_username
        self.clock, self.max_attempts, self.backoff, self.lease = clock, max_attempts, backoff, lease
        # How often, and how long, a step waits for AD Connect to carry an AD change over to Entra ID.
        self.sync_poll, self.sync_wait = sync_poll, sync_wait
        self.directory_policy = directory_policy   # config/directory.yaml: adds to the checklists' groups (assignments)

    # starting ---------------------------------------------------------------------------
    def start_run(self, event: Any) -> StartedRun:
        """Plan a run from an HR event; the same idempotency key returns the existing run. Onboarding: the
        username (HR's, or generated) must not belong to someone else, else ``PersonError`` and no run."""
        if event.idempotency_key:
            existing = self.store.find_run_by_key(event.idempotency_key)
            if existing:
                return StartedRun(existing.id, False)
        kind = event.kind
        same = self._active_run_for(kind, event.person)
        if same is not None:
            self.reschedule(same.id, event.effective_date, event.requested_by or f"hr-{event.source}")
            return StartedRun(same.id, False)
        checklist = self.checklists[kind]
        person = _jsonable(event.person)
        if self.choose_username and kind == "onboarding":
            # HR's own username too: one taken by someone else is refused here (PersonError on "username")
            person["username"] = self.choose_username(event.person)
        now = self.clock()
        tz = person.get("timezone") or self.default_timezone
        if person.get("terminate_now"):
            person[checklist.anchor] = now.astimezone(ZoneInfo(tz)).date().isoformat()
        anchor = anchor_date(checklist, person) or now.date()
        selected = steps_for(checklist, person)
        keys = {s.id for s in selected}
        steps = [RunStep(run_id=0, step_key=s.id, title=s.title, team=s.team, action=s.action, position=i,
                         requires=tuple(r for r in s.requires if r in keys),
                         due_at=self._due(s, anchor, tz, now, urgent=bool(person.get("terminate_now"))))
                 for i, s in enumerate(selected)]
        requester = event.requested_by or f"hr-{event.source}"
        run = Run(kind=kind, person=person, requested_by=requester, effective_date=anchor.isoformat(),
                  idempotency_key=event.idempotency_key, source=event.source)
        run, created = self.store.create_run(run, steps)
        if created:
            self.store.audit(requester, "run.started", f"run:{run.id}",
                             {"kind": kind, "person": run.display_name, "steps": len(steps), "source": event.source})
        return StartedRun(run.id, created)

    @staticmethod
    def _due(step: Any, anchor: date, tz: str, now: datetime, *, urgent: bool = False) -> datetime:
        if urgent and step.spec and step.spec.verb in PROTECTIVE:
            return now
        return due_at(step, anchor, tz, now=now).astimezone(timezone.utc)

    def _active_run_for(self, kind: str, person: Any) -> Run | None:
        """An unfinished run of this kind for the same person (same employee id, else same username)."""
        data = _jsonable(person)
        for run in self.store.list_runs():
            if run.kind != kind or run.status not in ("active", "blocked"):
                continue
            for key in ("employee_id", "username"):
                if data.get(key) and run.person.get(key) == data.get(key):
                    return run
        return None

    def reschedule(self, run_id: int, new_date: date, by: str) -> Run:
        """The start date or last day moved: re-plan every step that has not happened yet."""
        run = self.store.get_run(run_id)
        checklist = self.checklists[run.kind]
        if run.effective_date == new_date.isoformat():
            return run
        person = {**run.person, checklist.anchor: new_date.isoformat()}
        tz = person.get("timezone") or self.default_timezone
        now = self.clock()
        for step in self.store.list_steps(run.id):
            if step.status in ("pending", "awaiting_approval"):
                due = self._due(checklist.step(step.step_key), new_date, tz, now)
                self.store.save_step(replace(step, due_at=due), expect_status=step.status)
        saved = self.store.save_run(replace(run, person=person, effective_date=new_date.isoformat()))
        self.store.audit(by, "run.rescheduled", f"run:{run.id}", {"from": run.effective_date, "to": new_date.isoformat()})
        return saved

    # advancing ---------------------------------------------------------------------------
    def tick(self, worker: str = "worker", now: datetime | None = None) -> list[Notice]:
        """Claim and advance every due step; returns what people should be told."""
        now = now or self.clock()
        notices: list[Notice] = []
        for _ in range(20):  # a finished step can make its dependents due in the same tick
            finished = 0
            for step_id in self.store.due_step_ids(now, limit=200):
                step = self.store.claim_step(step_id, worker, now, self.lease)
                if step is not None:
                    advanced = self._advance(step, now)
                    finished += sum(n.kind in ("step_done", "task") for n in advanced)
                    notices += advanced
            if not finished:
                break
        return notices + self._expire_approvals(now)

    def _advance(self, step: RunStep, now: datetime) -> list[Notice]:
        run = self.store.get_run(step.run_id)
        done = {s.step_key for s in self.store.list_steps(run.id) if s.status in FINISHED}
        if any(r not in done for r in step.requires):
            self._save(replace(step, status="pending", lease_until=None))
            return []
        spec = self.checklists[run.kind].step(step.step_key)
        if spec.manual:
            return [self._to_task(run, step, spec.task or step.title)]
        directory = self.directories.get(spec.spec.system)
        if directory is None:
            what = f"{SYSTEM_NAMES[spec.spec.system]} is not connected to itbot: do this by hand there."
            return [self._to_task(run, step, what)]
        emergency = run.person.get("terminate_now") and spec.spec.verb in PROTECTIVE
        if spec.needs_approval and not emergency:
            gate = self._approval_gate(run, step, spec, directory, now)
            if gate is not None:
                return gate
        return self._execute(run, step, spec, directory, now)

    def _args(self, run: Run, spec: Any) -> dict[str, Any]:
        from workflows.assignments import with_directory_policy
        from workflows.checklist_due import action_arguments
        return with_directory_policy(action_arguments(self.checklists[run.kind], spec, run.person), spec,
                                     self.directory_policy, run.person)

    def _execute(self, run: Run, step: RunStep, spec: Any, directory: Any, now: datetime) -> list[Notice]:
        try:
            outcome: Outcome = perform(spec.action, directory, run.person, self._args(run, spec), plan=False)
        except HandOver as handover:
            return [self._to_task(run, step, str(handover))]
        except AwaitingSync as exc:  # polled every sync_poll for up to sync_wait, then a person looks at the sync
            attempts = step.attempts + 1
            if attempts * self.sync_poll < self.sync_wait:
                self._retry_later(step, attempts, exc, now + self.sync_poll)
                # the first wait is shown on the run's progress card; later polls change nothing to see
                return [Notice("step_waiting", run, self.store.get_step(step.id), text=str(exc))] \
                    if attempts == 1 else []
            return [self._fail(run, replace(step, attempts=attempts), exc)]
        except TransientError as exc:
            attempts = step.attempts + 1
            if attempts < self.max_attempts:
                return self._retry_later(step, attempts, exc, now + self.backoff * (2 ** (attempts - 1)))
            return [self._fail(run, replace(step, attempts=attempts), exc)]
        except DirectoryError as exc:
            return [self._fail(run, replace(step, attempts=step.attempts + 1), exc)]
        result = {"changes": [c.describe() for c in outcome.changes], "already_done": outcome.already_done}
        saved = self._save(replace(step, status="done", result=result, lease_until=None, done_by="itbot"))
        self.store.audit("itbot", "step.done", f"run:{run.id}", {"step": step.step_key, **result})
        return [Notice("step_done", run, saved, text=step.title)] + self._maybe_finish(run)

    def _retry_later(self, step: RunStep, attempts: int, exc: DirectoryError, when: datetime) -> list[Notice]:
        self._save(replace(step, status="pending", attempts=attempts, last_error=str(exc), lease_until=None,
                           next_attempt_at=when))
        return []

    def _fail(self, run: Run, step: RunStep, exc: DirectoryError) -> Notice:
        self.store.audit("itbot", "step.failed", f"run:{run.id}", {"step": step.step_key, "error": str(exc)})
        notice = self._to_task(run, replace(step, last_error=str(exc)),
                               f"itbot could not do this automatically after {step.attempts} attempt(s): {exc}. "
                               f"Please do it by hand, then press Done.", kind="step_failed")
        self.store.save_run(replace(self.store.get_run(run.id), status="blocked",
                                    blocked_reason=f"{step.title}: {exc}"))
        return notice

    def _to_task(self, run: Run, step: RunStep, text: str, kind: str = "task") -> Notice:
        saved = self._save(replace(step, status="task", lease_until=None, result={"task": text}))
        return Notice(kind, run, saved, text=text)

    def _save(self, step: RunStep) -> RunStep:
        return self.store.save_step(step)

    def _maybe_finish(self, run: Run) -> list[Notice]:
        steps = self.store.list_steps(run.id)
        if all(s.status in FINISHED for s in steps):
            done = self.store.save_run(replace(self.store.get_run(run.id), status="done", blocked_reason=None))
            self.store.audit("itbot", "run.done", f"run:{run.id}", {})
            return [Notice("run_done", done)]
        return []

    # people finishing tasks ------------------------------------------------------------------
    def manager_of_task(self, run: Run, step: RunStep) -> str | None:
        """The new hire's manager in Slack when this task is theirs (``assignee: manager``), else None."""
        try:
            spec = self.checklists[run.kind].step(step.step_key)
        except KeyError:  # the checklist changed since the run started
            return None
        return run.person.get("manager_slack_id") if spec.assignee == "manager" else None

    def claim_task(self, step_id: int, user: str) -> RunStep:
        """A team member takes a task; the card then shows who has it."""
        step = self.store.get_step(step_id)
        if step is None or step.status != "task":
            raise RunError("That task is not open any more.")
        run = self.store.get_run(step.run_id)
        if not (self.teams.is_member(step.team, user) or user == run.person.get("manager_slack_id")):
            raise RunError(f"Only {self.teams.team(step.team).name} can take this task.")
        if step.owner_slack_id:
            raise RunError(f"<@{step.owner_slack_id}> already has this task.")
        saved = self.store.save_step(replace(step, owner_slack_id=user), expect_status="task")
        if saved is None:
            raise RunError("This task changed meanwhile; nothing was done.")
        self.store.audit(user, "step.claimed", f"run:{run.id}", {"step": step.step_key})
        return saved

    def complete_task(self, step_id: int, user: str) -> list[Notice]:
        step = self.store.get_step(step_id)
        if step is None:
            raise RunError("That task no longer exists.")
        run = self.store.get_run(step.run_id)
        is_manager = user == run.person.get("manager_slack_id")
        if not (self.teams.is_member(step.team, user) or is_manager):
            raise RunError(f"Only {self.teams.team(step.team).name} can mark this done.")
        saved = self.store.save_step(replace(step, status="done", done_by=user), expect_status="task")
        if saved is None:
            raise RunError(f"This task is already {step.status}.")
        self.store.audit(user, "step.done_by_hand", f"run:{run.id}", {"step": step.step_key})
        if run.status == "blocked" and not [s for s in self.store.list_steps(run.id) if s.status in ("task", "denied")
                                            and s.last_error]:
            run = self.store.save_run(replace(run, status="active", blocked_reason=None))
        return [Notice("task_done", run, saved, text=user)] + self._maybe_finish(run)

