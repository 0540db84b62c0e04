"""What people see of checklist runs: the approval card, task cards in team channels, the progress card."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Iterable

from slack_sdk import WebClient

from bot.render import mention, render, slack_escape
from connectors.services import Services
from workflows.engine import Notice
from workflows.models import Approval, Run, RunStep

log = logging.getLogger(__name__)
ICON = {"done": "✅", "task": "🧑‍🔧", "awaiting_approval": "⏳", "running": "⚙️", "pending": "▫️", "denied": "⛔",
        "cancelled": "➖"}


def approval_blocks(services: Services, run: Run, approval: Approval, decision: str = "") -> list[dict]:
    entries = []
    for entry in approval.plan.get("steps", []):
        head = f"*{slack_escape(entry['step'])}* · {slack_escape(entry['system'])}"
        changes = [f"• `{slack_escape(c['attribute'])}`: {slack_escape(c['old'] or '(none)')} → "
                   f"{slack_escape(c['new'] or '(none)')}" for c in entry.get("changes", [])]
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


def update_progress(services: Services, client: WebClient, run: Run) -> Run:
    """Post the run's progress card once, then update it in place."""
    run = services.store.get_run(run.id)
    blocks = progress_blocks(services, run)
    text = f"{run.kind.capitalize()} of {slack_escape(run.display_name)}"
    if run.channel and run.thread_ts:
        client.chat_update(channel=run.channel, ts=run.thread_ts, text=text, blocks=blocks)
        return run
    reply = client.chat_postMessage(channel=services.run_policy.progress_channel, text=text, blocks=blocks)
    return services.store.save_run(replace(run, channel=reply["channel"], thread_ts=reply["ts"]))


def post_task(services: Services, client: WebClient, run: Run, step: RunStep, text: str) -> None:
    team = services.teams.team(step.team)
    blocks = render("run_task", run=run, step=step, text=text)
    what = f"{slack_escape(step.title)} ({slack_escape(run.display_name)})"
    reply = client.chat_postMessage(channel=team.channel, text=f"Task for {team.name}: {what}", blocks=blocks)
    manager = services.engine.manager_of_task(run, step)
    if manager:  # the manager's own tasks also reach the manager directly
        client.chat_postMessage(channel=manager, text=f"A task for you: {what}", blocks=blocks)
    # only where the card is: a worker may be writing the step's other columns at this moment
    services.store.save_step(replace(step, channel=reply["channel"], message_ts=reply["ts"]),
                             columns=("channel", "message_ts"))


def deliver(services: Services, client: WebClient, notices: Iterable[Notice]) -> None:
    """Show every notice to the people concerned; each run's progress card is updated once at the end."""
    touched: dict[int, Run] = {}
    for notice in notices:
        run = notice.run
        touched[run.id] = run
        if notice.kind == "approval_needed":
            client.chat_postMessage(channel=services.run_policy.approvals_channel,
                                    text=f"Approval needed: {slack_escape(notice.approval.summary)}",
                                    blocks=approval_blocks(services, run, notice.approval))
        elif notice.kind in ("task", "step_failed"):
            post_task(services, client, run, notice.step, notice.text)
        elif notice.kind == "run_stopped":
            client.chat_postMessage(channel=services.run_policy.approvals_channel,
                                    text=f":octagonal_sign: {run.kind.capitalize()} of "
                                         f"{slack_escape(run.display_name)} stopped. {slack_escape(notice.text)}")
        elif notice.kind == "approval_expired":
            lead = services.teams.team("cio").lead
            client.chat_postMessage(channel=services.run_policy.approvals_channel,
                                    text=f"<@{lead}>: nobody decided on “{slack_escape(notice.approval.summary)}” "
                                         f"in time, so "
                                         f"that card has expired. I am asking again with a new card; "
                                         f"please make sure someone decides it.")
    for run in touched.values():
        try:
            update_progress(services, client, run)
        except Exception as exc:  # the progress card is a view; losing one update loses nothing
            log.warning("could not update a run's progress card", extra={"run": run.id, "error": repr(exc)})
