"""The checklist engine: start runs, advance due steps, gate account changes on approval.

Everything is in the store, so a process killed mid-run resumes where it stopped: a step being run
holds a lease; when the lease runs out another worker takes it again, and because every directory
verb "ensures" its state, a step interrupted after its change reports "already done" the second time.
A step that keeps failing becomes a task for its owning team, with the error, and the run is blocked.

A claim is the step's lease (``lease_until``): every write that records what came of a claimed step is a
compare-and-set on that lease, so a worker that overran its lease (a long Graph throttle, a paused VM)
and was replaced by another never overwrites the new owner's result; its write is dropped and logged.
While a directory call is under way the lease is renewed in the background (see ``_LeaseKeeper``).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from workflows.checklist import Checklist
from workflows.checklist_due import anchor_date, due_at, steps_for
from workflows.directory import ConflictError, DirectoryError, Outcome, TransientError
from workflows.hybrid import CLOUD_ACCOUNT_EXISTS, AwaitingSync
from workflows.engine_approvals import PROTECTIVE, SYSTEM_NAMES, ApprovalsMixin, Notice, RunError, announce
from workflows.models import FINISHED_STEPS, URGENT, Run, RunStep
from workflows.ports import LiveRunExists, UsernameHeld
from workflows.run_actions import HandOver, perform

FINISHED = FINISHED_STEPS
ACCOUNT_CREATES = ("create_user", "onboard")   # a conflict here means the username is someone else's
# Fields a later HR event may fill in or change on a run under way without re-planning it.
_FOLLOW_UPS = ("event_id", "requested_by", "slack_user_id", "manager_slack_id", "terminate_now")
__all__ = ["Engine", "Notice", "RunError", "StartedRun", "PROTECTIVE"]
log = logging.getLogger(__name__)

# Leases. A claimed step's lease is LEASE from the claim and is renewed every third of it (by a thread of
# the worker) for as long as the directory call runs, but for no longer than MAX_HOLD in all. The
# connectors' worst case is well past LEASE: Graph retries a 429/503/504 up to 4 times, waiting up to 120 s
# each (connectors/graph_http.py, RetryPolicy), with a 10 s timeout per try: about 9 minutes per request,
# and an Entra onboarding sends several (a read $batch, the create, the follow-up $batch), so half an hour
# or more; AD is at most about 80 s per operation (10 s connect and 30 s receive, tried twice). Renewal
# keeps such a step with its worker; LEASE stays short so that a step whose worker died is taken again
# within minutes (which matters for "terminate now" offboardings), and MAX_HOLD (about twice that worst
# case) frees a step whose worker is alive but stuck. Beyond both, the lease compare-and-set (``_save``)
# keeps a late worker from overwriting anything.
LEASE = timedelta(minutes=5)
MAX_HOLD = timedelta(minutes=75)
# A pass reads the due steps BATCH at a time (so urgent work arriving meanwhile waits for at most BATCH steps) and
# takes at most PASS_LIMIT steps; a hire is given up to _USERNAME_TRIES usernames when others race for them.
BATCH, PASS_LIMIT, _USERNAME_TRIES = 50, 4000, 5


@dataclass(frozen=True)
class StartedRun:
    run_id: int
    created: bool


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _protective(step: Any) -> bool:
    """A step that cuts access at once in a terminate-now offboarding (see PROTECTIVE)."""
    return step.spec is not None and step.spec.verb in PROTECTIVE


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
                 backoff: timedelta = timedelta(minutes=1), lease: timedelta = LEASE, max_hold: timedelta = MAX_HOLD,
                 sync_poll: timedelta = timedelta(minutes=10), sync_wait: timedelta = timedelta(hours=4),
                 directory_policy: Any = None):
        self.store, self.checklists, self.teams, self.policy = store, checklists, teams, policy
        self.directories = dict(directories or {})
        self.default_timezone = default_timezone
        self.choose_username = choose_username
        self.clock, self.max_attempts, self.backoff, self.lease = clock, max_attempts, backoff, lease
        self.max_hold = max_hold
        # How often, and how long, a step waits for AD Connect to carry an AD change over to Entra ID.
        self.sync_poll, self.sync_wait = sync_poll, sync_wait
        self.directory_policy = directory_policy   # config/directory.yaml: adds to the checklists' groups (assignments)
        # told of every directory call: (system, verb, seconds, error kind or None), e.g. for /metrics
        self.observe_directory: Callable[[str, str, float, str | None], None] | None = None

    # starting ---------------------------------------------------------------------------
    def start_run(self, event: Any) -> StartedRun:
        """Plan a run from an HR event; the same idempotency key returns the existing run. Onboarding: the
        username (HR's, or generated) must not belong to someone else, else ``PersonError`` and no run.

        The store holds one live run per kind and person, and each username for one live onboarding: an event
        that loses a race with another for the same person is handled as a follow-up of the run that won, and
        a hire that loses one for the same username chooses again (that name now counts as taken)."""
        if event.idempotency_key:
            existing = self.store.find_run_by_key(event.idempotency_key)
            if existing:
                return StartedRun(existing.id, False)
        kind = event.kind
        same = self._active_run_for(kind, event.person)
        if same is not None:
            return self._follow_up(same, event)
        checklist = self.checklists[kind]
        person = _jsonable(event.person)
        now = self.clock()
        tz = person.get("timezone") or self.default_timezone
        urgent = bool(person.get("terminate_now"))
        if urgent:
            person[checklist.anchor] = now.astimezone(ZoneInfo(tz)).date().isoformat()
        anchor = anchor_date(checklist, person) or now.date()
        selected = steps_for(checklist, person)
        keys = {s.id for s in selected}
        steps = [RunStep(run_id=0, step_key=s.id, title=s.title, team=s.team, action=s.action, position=i,
                         requires=tuple(r for r in s.requires if r in keys),
                         due_at=self._due(s, anchor, tz, now, urgent=urgent),
                         priority=URGENT if urgent and _protective(s) else 0)
                 for i, s in enumerate(selected)]
        requester = event.requested_by or f"hr-{event.source}"
        for _ in range(_USERNAME_TRIES):
            if self.choose_username and kind == "onboarding":
                # HR's own username too: one taken by someone else is refused here (PersonError on "username")
                person["username"] = self.choose_username(event.person)
            run = Run(kind=kind, person=dict(person), requested_by=requester, effective_date=anchor.isoformat(),
                      idempotency_key=event.idempotency_key, source=event.source)
            try:
                run, created = self.store.create_run(run, steps)
            except LiveRunExists as race:     # another event for this person was stored first
                return self._follow_up(race.run, event)
            except UsernameHeld:              # another hire of the same name was: choose again
                continue
            if created:
                self.store.audit(requester, "run.started", f"run:{run.id}", {"kind": kind, "person": run.display_name,
                                                                           "steps": len(steps), "source": event.source})
            return StartedRun(run.id, created)
        raise RunError(f"No free username could be settled for {run.display_name}: other hires of the same name "
                       f"kept taking the one chosen. Send the event again.")

    def _follow_up(self, same: Run, event: Any) -> StartedRun:
        """Another event for a person whose run is under way: it may move its date or make it an emergency;
        anything else it changes is refused."""
        by = event.requested_by or f"hr-{event.source}"
        update = _jsonable(event.person)
        if update.get("terminate_now") and not same.person.get("terminate_now"):
            self.terminate_now(same.id, by)
        else:
            self._refuse_other_changes(same, update)
            self.reschedule(same.id, event.effective_date, by)
        return StartedRun(same.id, False)

    @staticmethod
    def _due(step: Any, anchor: date, tz: str, now: datetime, *, urgent: bool = False) -> datetime:
        if urgent and _protective(step):
            return now
        return due_at(step, anchor, tz, now=now).astimezone(timezone.utc)

    def _active_run_for(self, kind: str, person: Any) -> Run | None:
        """The live run of this kind for the same person (same employee id, else same username): one indexed
        lookup in the store, whatever the number of runs."""
        return self.store.find_live_run(kind, _jsonable(person))

    def _refuse_other_changes(self, run: Run, update: dict[str, Any]) -> None:
        """A second event for a run under way may move its date; anything else it changes would be dropped
        silently (the approved plan was made from the first), so it is refused, saying what and why."""
        anchor = self.checklists[run.kind].anchor
        changed = sorted(k for k, v in update.items() if k not in (anchor, *_FOLLOW_UPS)
                         and v not in (None, "") and run.person.get(k) != v)
        if changed:
            raise RunError(f"{run.display_name} already has a {run.kind} run under way (run {run.id}); this event "
                           f"also changes {', '.join(changed)}, which an existing run cannot take on (its changes "
                           f"were approved as they were). Only its date can be moved this way: let IT finish or "
                           f"stop that run, then send the changes again (or as a role change).")

    def terminate_now(self, run_id: int, by: str) -> Run:
        """An offboarding already planned becomes an emergency: disable and revoke at once, without waiting
        for approval (they cut access and can be undone); the rest still waits for IT's approval."""
        run = self.store.get_run(run_id)
        checklist = self.checklists[run.kind]
        now = self.clock()
        tz = run.person.get("timezone") or self.default_timezone
        today = now.astimezone(ZoneInfo(tz)).date()
        for step in self.store.list_steps(run.id):
            if step.status in ("pending", "awaiting_approval"):
                spec = checklist.step(step.step_key)
                urgent = _protective(spec)
                status = "pending" if urgent else step.status
                self.store.save_step(replace(step, status=status, lease_until=None, priority=URGENT if urgent
                                             else step.priority, due_at=self._due(spec, today, tz, now, urgent=True)),
                                     expect_status=step.status)
        person = {**run.person, "terminate_now": True, checklist.anchor: today.isoformat()}
        saved = self.store.save_run(replace(run, person=person, effective_date=today.isoformat()))
        self.store.audit(by, "run.terminate_now", f"run:{run.id}", {"was": run.effective_date})
        return saved

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
    def tick(self, worker: str = "worker", now: datetime | None = None, *,
             stopping: Callable[[], bool] = lambda: False) -> list[Notice]:
        """Claim and advance the steps that can move now (highest priority first, then fairly across runs); returns
        what people should be told. Steps waiting on another step or an approval are not looked at: the store
        releases them when what they wait for finishes, and a step finished here lets its dependents run in
        this same pass. Due steps are read again every BATCH steps, so a terminate-now offboarding's protective
        steps, which come first, wait for at most BATCH others even when they arrive during a pass. Once
        ``stopping()`` says so (the worker was told to stop), no further step is claimed; the one under way
        finishes and records what came of it."""
        now = now or self.clock()
        notices: list[Notice] = []
        taken: set[int] = set()
        while len(taken) < PASS_LIMIT:
            batch = [i for i in self.store.due_step_ids(now, limit=BATCH) if i not in taken]
            if not batch:
                break
            for step_id in batch:
                if stopping():
                    return notices
                taken.add(step_id)
                # the lease runs from the moment of the claim: earlier steps of this tick may have taken minutes
                step = self.store.claim_step(step_id, worker, max(now, self.clock()), self.lease)
                if step is not None:
                    notices += self._advance(step, now, worker)
                    if step.priority:   # urgent: what it released (revoke after disable) goes next, not after BATCH
                        break
        return notices + self._expire_approvals(now)

    def _advance(self, step: RunStep, now: datetime, worker: str = "worker") -> list[Notice]:
        run = self.store.get_run(step.run_id)
        done = {s.step_key for s in self.store.list_steps(run.id) if s.status in FINISHED}
        if any(r not in done for r in step.requires):   # only for a step stored without its wait (older rows)
            if self._save(step, status="pending", lease_until=None):
                self.store.settle_waiting(run.id)     # from now on it waits without being taken
            return []
        spec = self.checklists[run.kind].step(step.step_key)
        if spec.manual:
            return self._to_task(run, step, spec.task or step.title)
        directory = self.directories.get(spec.spec.system)
        emergency = run.person.get("terminate_now") and spec.spec.verb in PROTECTIVE
        if spec.needs_approval and not emergency:  # done by itbot or by hand, an access change is approved first
            gate = self._approval_gate(run, step, spec, directory, now)
            if gate is not None:
                return gate
        if directory is None:
            what = f"{SYSTEM_NAMES[spec.spec.system]} is not connected to itbot: do this by hand there."
            return self._to_task(run, step, what)
        return self._execute(run, step, spec, directory, now, worker)

    def _args(self, run: Run, spec: Any) -> dict[str, Any]:
        from workflows.assignments import with_directory_policy
        from workflows.checklist_due import action_arguments
        return with_directory_policy(action_arguments(self.checklists[run.kind], spec, run.person), spec,
                                     self.directory_policy, run.person)

    def _execute(self, run: Run, step: RunStep, spec: Any, directory: Any, now: datetime,
                 worker: str = "worker") -> list[Notice]:
        keeper = _LeaseKeeper(self, step, worker)
        try:
            with keeper:
                outcome: Outcome = self._perform(run, spec, directory, plan=False)
        except HandOver as handover:
            return self._to_task(run, keeper.step, str(handover))
        except AwaitingSync as exc:  # polled every sync_poll for up to sync_wait, then a person looks at the sync
            step = keeper.step
            attempts = step.attempts + 1
            if attempts * self.sync_poll < self.sync_wait:
                # the first wait is shown on the run's progress card; later polls change nothing to see
                said = [announce("step_waiting", run, step, text=str(exc))] if attempts == 1 else []
                saved = self._retry_later(step, attempts, exc, now + self.sync_poll, announce=said)
                return [Notice("step_waiting", run, saved, text=str(exc))] if said and saved else []
            return self._fail(run, replace(step, attempts=attempts), exc)
        except TransientError as exc:
            step = keeper.step
            attempts = step.attempts + 1
            if attempts < self.max_attempts:
                self._retry_later(step, attempts, exc, now + self.backoff * (2 ** (attempts - 1)))
                return []
            return self._fail(run, replace(step, attempts=attempts), exc)
        except DirectoryError as exc:
            step = keeper.step
            if isinstance(exc, ConflictError) and spec.spec.verb in ACCOUNT_CREATES \
                    and exc.code != CLOUD_ACCOUNT_EXISTS:   # (that one IT can fix in place, then press Done)
                return self._stop(run, step, exc)
            return self._fail(run, replace(step, attempts=step.attempts + 1), exc)
        result = {"changes": [c.describe() for c in outcome.changes], "already_done": outcome.already_done}
        saved = self._save(keeper.step, status="done", result=result, lease_until=None, done_by="itbot",
                           announce=[announce("step_done", run, step, text=step.title)])
        if saved is None:
            return []
        self.store.audit("itbot", "step.done", f"run:{run.id}", {"step": step.step_key, **result})
        return [Notice("step_done", run, saved, text=step.title)] + self._maybe_finish(run)

    def _perform(self, run: Run, spec: Any, directory: Any, *, plan: bool) -> Outcome:
        """The step's directory action, timed for ``observe_directory`` (system, verb, seconds, error kind)."""
        started = time.monotonic()
        error: str | None = None
        try:
            return perform(spec.action, directory, run.person, self._args(run, spec), plan=plan)
        except DirectoryError as exc:
            error = type(exc).__name__
            raise
        finally:
            if self.observe_directory is not None:
                self.observe_directory(spec.spec.system, spec.spec.verb, time.monotonic() - started, error)

    def _retry_later(self, step: RunStep, attempts: int, exc: DirectoryError, when: datetime,
                     announce: list[Any] | None = None) -> RunStep | None:
        return self._save(step, status="pending", attempts=attempts, last_error=str(exc), lease_until=None,
                          next_attempt_at=when, announce=announce or [])

    def _fail(self, run: Run, step: RunStep, exc: DirectoryError) -> list[Notice]:
        notices = self._to_task(run, replace(step, last_error=str(exc)),
                                f"itbot could not do this automatically after {step.attempts} attempt(s): {exc}. "
                                f"Please do it by hand, then press Done.", kind="step_failed")
        if not notices:   # this worker's claim was lost: the step is someone else's now
            return []
        self.store.audit("itbot", "step.failed", f"run:{run.id}", {"step": step.step_key, "error": str(exc)})
        self.store.save_run(replace(self.store.get_run(run.id), status="blocked",
                                    blocked_reason=f"{step.title}: {exc}"))
        return notices

    def _stop(self, run: Run, step: RunStep, exc: DirectoryError) -> list[Notice]:
        """The hire's account cannot be made under this username (it is someone else's). No task with a Done
        button: pressing it would let the later steps work on that other person's account. The run stops
        (status failed, which frees the person for a new run) and HR sends the hire again."""
        saved = self._save(step, status="denied", last_error=str(exc), lease_until=None)
        if saved is None:
            return []
        reason = (f"{step.title}: {exc}. Nothing more will run for this hire: send them again with another "
                  f"username, or none to have one generated.")
        return self._end_run(run, reason, "itbot", saved, step=step.step_key, error=str(exc))

    def _end_run(self, run: Run, reason: str, actor: str, last: RunStep | None = None, *, said: str | None = None,
                 by: str | None = None, **audit: Any) -> list[Notice]:
        """The run stops here (status failed, which frees its person for a new run); no approval of it stays
        pending. ``said`` is what people are told (default: the reason); ``by``, the IT approver who stopped it."""
        said = said or reason
        extra = {"by": by} if by else {}
        stopped = self.store.save_run(replace(self.store.get_run(run.id), status="failed", blocked_reason=reason),
                                      announce=[announce("run_stopped", run, last, text=said, **extra)])
        self.cancel_approvals(run.id)
        self.store.audit(actor, "run.stopped", f"run:{run.id}", {**audit, **extra})
        return [Notice("run_stopped", stopped, last, text=said)]

    def _to_task(self, run: Run, step: RunStep, text: str, kind: str = "task") -> list[Notice]:
        saved = self._save(step, status="task", lease_until=None, result={"task": text},
                           announce=[announce(kind, run, step, text=text)])
        return [Notice(kind, run, saved, text=text)] if saved else []

    def _save(self, claimed: RunStep, *, announce: list[Any] | None = None, **changes: Any) -> RunStep | None:
        """Record what came of a step this worker claimed: only if the claim (its lease) is still this one.

        ``claimed`` is the step as claimed (its ``lease_until`` is the claim's token) with any changes made on
        the way; ``changes`` are what to write. None when the step was meanwhile taken by another worker
        (this one overran its lease), in which case nothing is written."""
        saved = self.store.save_step(replace(claimed, **changes), expect_status="running",
                                     expect_lease=claimed.lease_until, announce=announce or [])
        if saved is None:
            log.warning("lost the lease on a step; what this worker did is not recorded (the new owner's is kept)",
                        extra={"step": claimed.id, "step_key": claimed.step_key, "run": claimed.run_id,
                               "status": changes.get("status")})
        return saved

    def _maybe_finish(self, run: Run) -> list[Notice]:
        current = self.store.get_run(run.id)
        if not current.is_live:   # a denied or stopped run stays so
            return []
        steps = self.store.list_steps(run.id)
        if all(s.status in FINISHED for s in steps):
            done = self.store.save_run(replace(current, status="done", blocked_reason=None),
                                       announce=[announce("run_done", run)])
            self.store.audit("itbot", "run.done", f"run:{run.id}", {})
            return [Notice("run_done", done)]
        return []

    def stop_run(self, run_id: int, user: str) -> list[Notice]:
        """IT stops a run that should not go on (a wrong hire, a leaver who stays): nothing more is done or
        posted for it, its open tasks are cancelled, and the person is free for a corrected event from HR.
        What was already done in the directories stays as it is (and is listed on the progress card)."""
        run = self.store.get_run(run_id)
        if run is None:
            raise RunError("That run no longer exists.")
        if user not in self.policy.it_approvers:
            raise RunError("Only IT approvers can stop a run.")
        if not run.is_live:
            raise RunError(f"This run is already {run.status}.")
        for step in self.store.list_steps(run.id):
            if step.status in ("pending", "awaiting_approval", "task"):
                self.store.save_step(replace(step, status="cancelled", lease_until=None), expect_status=step.status)
        return self._end_run(run, f"stopped by <@{user}>", user, by=user,
                             said=f"Stopped by <@{user}>: nothing more will be done for it.")

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
        if not (self.teams.is_member(step.team, user) or user == self.manager_of_task(run, step)):
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
        if not (self.teams.is_member(step.team, user) or user == self.manager_of_task(run, step)):
            raise RunError(f"Only {self.teams.team(step.team).name} can mark this done.")
        saved = self.store.save_step(replace(step, status="done", done_by=user), expect_status="task",
                                     announce=[announce("task_done", run, step, text=user)])
        if saved is None:
            raise RunError(f"This task is already {step.status}.")
        self.store.audit(user, "step.done_by_hand", f"run:{run.id}", {"step": step.step_key})
        if run.status == "blocked" and not [s for s in self.store.list_steps(run.id) if s.status in ("task", "denied")
                                            and s.last_error]:
            run = self.store.save_run(replace(run, status="active", blocked_reason=None))
        return [Notice("task_done", run, saved, text=user)] + self._maybe_finish(run)



class _LeaseKeeper:
    """Renews a claimed step's lease in the background while its directory call runs (see LEASE above).

    ``step`` is the claimed step with its current lease (the token for the writes that follow); it is read
    only once the ``with`` block has ended, when the renewing thread has stopped."""

    def __init__(self, engine: Engine, step: RunStep, worker: str):
        self.engine, self.step, self.worker = engine, step, worker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "_LeaseKeeper":
        if self.step.lease_until is not None:
            self._thread = threading.Thread(target=self._renew, name=f"lease-step-{self.step.id}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _renew(self) -> None:
        engine = self.engine
        every = max(engine.lease.total_seconds() / 3, 0.01)
        give_up = engine.clock() + engine.max_hold
        while not self._stop.wait(every):
            until = min(engine.clock() + engine.lease, give_up)
            if until <= self.step.lease_until:
                if engine.clock() >= give_up:
                    log.warning("a step has run longer than itbot keeps a lease; it may be taken again",
                                extra={"step": self.step.id, "worker": self.worker})
                    return
                continue
            try:
                renewed = engine.store.renew_lease(self.step, until)
            except Exception:   # the database is briefly away: try again at the next beat
                log.warning("could not renew a step's lease", exc_info=True, extra={"step": self.step.id})
                continue
            if renewed is None:
                log.warning("lost the lease on a step while running it", extra={"step": self.step.id,
                                                                                "worker": self.worker})
                return
            self.step = renewed
