"""What people see of checklist runs: the approval card, task cards in team channels, the progress card
(sent through the outbox: bot/outbox.py, bot/outbox_kinds.py)."""
from __future__ import annotations

from typing import Iterable

from slack_sdk import WebClient

from bot.render import mention, render, slack_escape
from connectors.services import Services
from workflows.engine import Notice
from workflows.models import Approval, Run, RunStep
from workflows.plan_words import shown

ICON = {"done": "✅", "task": "🧑‍🔧", "awaiting_approval": "⏳", "running": "⚙️", "pending": "▫️", "denied": "⛔",
        "cancelled": "➖"}


def approval_blocks(services: Services, run: Run, approval: Approval, decision: str = "") -> list[dict]:
    entries = []
    for entry in approval.plan.get("steps", []):
        head = f"*{slack_escape(entry['step'])}* · {slack_escape(entry['system'])}"
        changes = [f"• `{slack_escape(c['attribute'])}`: {slack_escape(shown(c['old']))} → "
                   f"{slack_escape(shown(c['new']))}" for c in entry.get("changes", [])]
        if not changes:
            changes = [f"• {slack_escape(entry.get('note') or 'already in place: nothing to change')}"]
        entries.append("\n".join([head, *changes[:25]] + ([f"• … {len(changes) - 25} more"] if len(changes) > 25 else [])))
    return render("run_approval", run=run, approval=approval, entries=entries[:40], requester=mention(run.requested_by),
                  decision=decision)


def progress_blocks(services: Services, run: Run) -> list[dict]:
    steps = services.store.list_steps(run.id)
    done = sum(s.status in ("done", "cancelled") for s in steps)
    lines = [f"{ICON.get(s.status, '▫️')} {slack_escape(s.title)} — {services.teams.team(s.team).name}"
             + (f" (<@{s.done_by}>)" if s.done_by and s.done_by != "itbot" and s.status == "done" else "")
             + (f" · _{slack_escape(s.last_error)}_" if s.status == "pending" and s.last_error else "")
             for s in steps]
    reason = slack_escape(run.blocked_reason or "")
    status = {"active": "In progress", "blocked": f"Blocked: {reason}", "done": "Done",
              "failed": f"Stopped: {reason}", "denied": f"Denied: {reason}"
              }.get(run.status, run.status)
    return render("run_progress", run=run, done=done, total=len(steps), lines=lines, status_line=status,
                  requester=mention(run.requested_by))


def task_card(run: Run, step: RunStep, text: str) -> list[dict]:
    return render("run_task", run=run, step=step, text=text)


def deliver(services: Services, client: WebClient, notices: Iterable[Notice] = ()) -> int:
    """Send what the outbox holds now. The notices themselves were written to the outbox with the changes
    they announce (``notices`` is only what the caller was told; nothing is sent from it), so what a caller
    that dies here would have sent is sent by the next sender instead. Returns how many were sent."""
    from bot.outbox import OutboxSender
    return OutboxSender(services, client).drain()
