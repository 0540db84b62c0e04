"""Approvals for the engine: one card per run with the directory plan, decisions checked at click time.

Every account add or removal waits for an IT approver; privileged changes (admin groups) wait for IT and
for Security, two different people. Nobody approves their own request. A decision is a compare-and-set in
the store, so a double click (or two approvers at once) decides once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from workflows.directory import DirectoryError
from workflows.models import Announcement, Approval, Run, RunStep
from workflows.plan_words import changes_summary, pending_change
from workflows.run_actions import HandOver, perform

SYSTEM_NAMES = {"ad": "Active Directory", "entra": "Entra ID"}
# In a "terminate now" offboarding these run at once without waiting for approval: they only cut access,
# can be undone, and lose nothing. Everything else still waits for IT's approval.
PROTECTIVE = ("disable_user", "revoke_sessions")


class RunError(ValueError):
    """A person may not do this, or the run or step is not in a state that allows it."""


@dataclass(frozen=True)
class Notice:
    """Something people should see: kind is approval_needed | task | step_done | step_failed | run_done | …"""

    kind: str
    run: Run
    step: RunStep | None = None
    approval: Approval | None = None
    text: str = ""


def announce(kind: str, run: Run, step: RunStep | None = None, approval_id: int | None = None,
             text: str = "", **extra: Any) -> Announcement:
    """The outbox row of a notice, written with the change it announces (see connectors/store/outbox.py)."""
    return Announcement(f"run:{run.id}", kind, {"run_id": run.id, "step_id": step.id if step else None,
                                                 "approval_id": approval_id, "text": text, **extra})


def _show(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return None if value is None else str(value)


class ApprovalsMixin:
    store: Any
    checklists: Any
    teams: Any
    policy: Any
    directories: Any
    clock: Any

    def _approval_gate(self, run: Run, step: RunStep, spec: Any, directory: Any, now: datetime) -> list[Notice] | None:
        """None when the step may run now; otherwise the notices for asking (or waiting)."""
        if step.approval_id is None:
            return self._ask_for_approval(run, step, spec, now)
        approval = self.store.get_approval(step.approval_id)
        if approval.status == "approved":
            return None
        if approval.status in ("denied", "expired"):
            self._save(step, status="denied", lease_until=None)
            return []
        self._save(step, status="awaiting_approval", lease_until=None)
        return []

    def _ask_for_approval(self, run: Run, step: RunStep, spec: Any, now: datetime) -> list[Notice]:
        """One approval for every account change of the run still to come (privileged ones apart, since those
        also need Security), with each change's directory plan, so IT decides once seeing all of it."""
        checklist = self.checklists[run.kind]
        emergency = bool(run.person.get("terminate_now"))
        waiting = [s for s in self.store.list_steps(run.id) if s.approval_id is None and s.action
                   and s.status in ("pending", "running") and checklist.step(s.step_key).needs_approval
                   and checklist.step(s.step_key).privileged == spec.privileged
                   and not (emergency and checklist.step(s.step_key).spec.verb in PROTECTIVE)]
        plan = [self._plan_entry(run, s) for s in waiting]
        approval = self.store.create_approval(Approval(
            subject=f"run:{run.id}", requested_by=run.requested_by, needs_security=spec.privileged,
            plan={"steps": plan}, summary=changes_summary(run.kind, run.display_name, len(plan)),
            run_id=run.id, expires_at=now + self.policy.expire_after),
            announce=lambda approval_id: [announce("approval_needed", run, step, approval_id)])
        for s in waiting:
            if s.id == step.id:
                self._save(step, approval_id=approval.id, status="awaiting_approval", lease_until=None)
            else:  # another worker may hold it: only the approval is set, and only if it is still as read
                self.store.save_step(replace(s, approval_id=approval.id), expect_status=s.status,
                                     expect_lease=s.lease_until, columns=("approval_id",))
        return [Notice("approval_needed", run, self.store.get_step(step.id), approval)]

    def _plan_entry(self, run: Run, step: RunStep) -> dict[str, Any]:
        spec = self.checklists[run.kind].step(step.step_key)
        entry: dict[str, Any] = {"step": step.title, "system": SYSTEM_NAMES.get(spec.spec.system, spec.spec.system)}
        directory = self.directories.get(spec.spec.system)
        if directory is None:
            entry["note"] = (f"{SYSTEM_NAMES.get(spec.spec.system, spec.spec.system)} is not connected to itbot: "
                             f"once approved, its team does this by hand")
            return entry
        try:
            outcome = self._perform(run, spec, directory, plan=True)
            entry["changes"] = [{"target": c.target, "attribute": c.attribute, "old": _show(c.old), "new": _show(c.new)}
                                for c in outcome.changes]
        except HandOver as handover:
            entry["note"] = str(handover)
        except DirectoryError:   # it depends on an earlier step (the account is not made yet): say what it will do
            entry["note"] = pending_change(spec.spec.verb, self._args(run, spec))
        return entry

    def decide(self, approval_id: int, user: str, approve: bool) -> tuple[Approval, list[Notice]]:
        """Record a decision, checked again now; the step runs at the next tick when fully approved."""
        approval = self.store.get_approval(approval_id)
        if approval is None:
            raise RunError("That approval no longer exists.")
        run = self.store.get_run(approval.run_id)
        if approval.status != "pending":
            raise RunError(f"This was already decided ({approval.status}).")
        if user in (approval.requested_by, run.person.get("slack_user_id")):
            raise RunError("You cannot approve your own request.")
        is_it = user in self.policy.it_approvers
        is_security = self.teams.is_member(self.policy.security_team, user)
        if not (is_it or is_security):
            raise RunError("Only IT approvers (or Security, for privileged access) can decide this.")
        now = self.clock()
        if approval.expires_at and approval.expires_at < now:
            raise RunError("This approval has expired.")
        if not approve:
            changes: dict[str, Any] = {"status": "denied", "decided_by": user, "decided_at": now}
            expect: dict[str, Any] = {"status": "pending"}
        elif approval.needs_security and approval.decided_by is None and is_it \
                and user != approval.security_decided_by:
            changes = {"decided_by": user, "decided_at": now}
            expect = {"status": "pending", "decided_by": None}
        elif approval.needs_security and is_security and approval.security_decided_by is None \
                and user != approval.decided_by:
            changes = {"security_status": "approved", "security_decided_by": user}
            expect = {"status": "pending", "security_decided_by": None}
        elif not approval.needs_security and is_it:
            changes = {"status": "approved", "decided_by": user, "decided_at": now}
            expect = {"status": "pending"}
        else:
            raise RunError("This needs another approver (privileged access needs both IT and Security).")
        # Only the columns this decision changes are written: IT's and Security's halves, given at the same
        # moment, each land in their own columns and both stay.
        saved = self.store.save_approval(replace(approval, **changes), expect=expect, columns=changes)
        if saved is None:
            raise RunError("Someone else decided this at the same moment; nothing was changed twice.")
        if saved.status == "pending" and saved.needs_security and saved.decided_by and saved.security_decided_by:
            # both halves are in (this one may have been given beside the other): the approval is complete
            both = self.store.save_approval(replace(saved, status="approved"), expect={"status": "pending"},
                                            columns=("status",))
            saved = both or self.store.get_approval(approval.id)
        self.store.audit(user, f"approval.{'approved' if approve else 'denied'}", f"run:{run.id}",
                         {"approval": approval.id, "status": saved.status})
        return saved, self._after_decision(saved, run, now)

    def _after_decision(self, approval: Approval, run: Run, now: datetime) -> list[Notice]:
        covered = [s for s in self.store.list_steps(run.id) if s.approval_id == approval.id]
        if approval.status == "approved":
            for step in covered:
                self.store.save_step(replace(step, status="pending", lease_until=None),
                                     expect_status="awaiting_approval")
        elif approval.status == "denied":
            for step in covered:
                if step.status in ("pending", "awaiting_approval"):
                    self.store.save_step(replace(step, status="denied", lease_until=None), expect_status=step.status,
                                         expect_lease=step.lease_until)
            if approval.needs_security:   # admin rights refused: the rest of the run may still be wanted
                self.store.save_run(replace(run, status="blocked", blocked_reason="privileged access denied"),
                                    announce=[announce("run_denied", run, approval_id=approval.id)])
                return [Notice("run_denied", run, None, approval)]
            # IT refused the run's account changes: the run ends here (nothing more is posted or done for it)
            # and the person is free for a corrected event from HR
            stopped = self.store.save_run(replace(run, status="denied",
                                                  blocked_reason=f"account changes denied by <@{approval.decided_by}>"),
                                          announce=[announce("run_denied", run, approval_id=approval.id)])
            self.cancel_approvals(run.id)
            return [Notice("run_denied", stopped, None, approval)]
        return []

    def _expire_approvals(self, now: datetime) -> list[Notice]:
        """An approval nobody decided in time expires (its card can no longer be used) and the CIO is told;
        its steps go back to waiting, so the next tick asks again with a fresh card: the run never sits on
        an approval nobody can decide any more."""
        notices = []
        for approval in self.store.list_approvals(status="pending", expired_at=now):   # (not every pending one)
            if approval.expires_at and approval.expires_at < now:
                run = self.store.get_run(approval.run_id)
                expired = self.store.save_approval(replace(approval, status="expired"), expect={"status": "pending"},
                                                   columns=("status",),
                                                   announce=[announce("approval_expired", run, approval_id=approval.id)])
                if expired:
                    for step in self.store.list_steps(run.id):
                        if step.approval_id == approval.id and step.status in ("pending", "awaiting_approval"):
                            self.store.save_step(replace(step, approval_id=None, status="pending", lease_until=None))
                    self.store.audit("itbot", "approval.expired", f"run:{run.id}", {"approval": approval.id})
                    notices.append(Notice("approval_expired", run, None, expired))
        return notices

    def cancel_approvals(self, run_id: int) -> None:
        """A run that ended leaves no approval to decide: its pending ones are cancelled (their cards then say
        "already decided (cancelled)" when clicked)."""
        for approval in self.store.list_approvals(status="pending", run_id=run_id):
            if approval.run_id == run_id:
                self.store.save_approval(replace(approval, status="cancelled"), expect={"status": "pending"},
                                         columns=("status",))
