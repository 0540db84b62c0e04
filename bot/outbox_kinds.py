"""What each kind of outbox row says in Slack: rendered when it is sent, from the store as it is then."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from bot.digests import send_digest
from bot.jobs import SLA_HANDLERS
from bot.outbox import Delivery
from bot.render import slack_escape
from bot.run_notify import approval_blocks, progress_blocks, task_card


def _run_notice(say: Callable[[Delivery], None]) -> Callable[[Delivery], None]:
    """A run's notice: what it says itself, then the run's progress card (only for the last notice of the
    run waiting, so a burst of notices updates the card once)."""

    def handle(delivery: Delivery) -> None:
        say(delivery)
        if delivery.sender.outbox.is_last_of_stream(delivery.row):
            _progress(delivery)

    return handle


def _nothing(delivery: Delivery) -> None:
    """The notice shows only on the progress card."""


def _approval_needed(delivery: Delivery) -> None:
    services = delivery.sender.services
    approval = services.store.get_approval(delivery.row.payload["approval_id"])
    if approval is None or approval.status != "pending":   # decided, expired or cancelled before it was shown
        return
    run = services.store.get_run(approval.run_id)
    channel, ts = delivery.post("card", channel=services.run_policy.approvals_channel,
                                text=f"Approval needed: {slack_escape(approval.summary)}",
                                blocks=approval_blocks(services, run, approval))
    services.store.save_approval(replace(approval, channel=channel, message_ts=ts), columns=("channel", "message_ts"))


def _task(delivery: Delivery) -> None:
    services = delivery.sender.services
    step = services.store.get_step(delivery.row.payload["step_id"])
    run = services.store.get_run(delivery.row.payload["run_id"])
    if step is None or step.status != "task" or not run.is_live:   # done, cancelled or stopped meanwhile
        return
    text = delivery.row.payload.get("text") or ""
    team = services.teams.team(step.team)
    blocks = task_card(run, step, text)
    what = f"{slack_escape(step.title)} ({slack_escape(run.display_name)})"
    channel, ts = delivery.post("card", channel=team.channel, blocks=blocks, text=f"Task for {team.name}: {what}")
    # only where the card is: a worker may be writing the step's other columns at this moment
    services.store.save_step(replace(step, channel=channel, message_ts=ts), columns=("channel", "message_ts"))
    manager = services.engine.manager_of_task(run, step)
    if manager:  # the manager's own tasks also reach the manager directly
        delivery.post("manager", channel=manager, blocks=blocks, text=f"A task for you: {what}")


def _to_approvals(template: str) -> Callable[[Delivery], None]:
    def handle(delivery: Delivery) -> None:
        services = delivery.sender.services
        run = services.store.get_run(delivery.row.payload["run_id"])
        payload = delivery.row.payload
        said = (f"Stopped by <@{payload['by']}>: nothing more will be done for it." if payload.get("by")
                else slack_escape(payload.get("text") or ""))
        text = template.format(kind=run.kind.capitalize(), name=slack_escape(run.display_name), text=said,
                               lead=services.teams.team("cio").lead,
                               summary=slack_escape(_approval_summary(delivery)))
        delivery.post("notice", channel=services.run_policy.approvals_channel, text=text)
    return handle


def _approval_summary(delivery: Delivery) -> str:
    approval_id = delivery.row.payload.get("approval_id")
    approval = delivery.sender.services.store.get_approval(approval_id) if approval_id else None
    return approval.summary if approval else ""


def _progress(delivery: Delivery) -> None:
    """Post the run's progress card once, then update it in place."""
    services = delivery.sender.services
    run = services.store.get_run(delivery.row.payload["run_id"])
    blocks = progress_blocks(services, run)
    text = f"{run.kind.capitalize()} of {slack_escape(run.display_name)}"
    if run.channel and run.thread_ts:
        delivery.update(channel=run.channel, ts=run.thread_ts, text=text, blocks=blocks)
        return
    channel, ts = delivery.post("progress", channel=services.run_policy.progress_channel, text=text, blocks=blocks)
    services.store.save_run(replace(run, channel=channel, thread_ts=ts), columns=("channel", "thread_ts"))


HANDLERS: dict[str, Callable[[Delivery], None]] = {
    "approval_needed": _run_notice(_approval_needed),
    "task": _run_notice(_task),
    "step_failed": _run_notice(_task),
    "run_stopped": _run_notice(_to_approvals(":octagonal_sign: {kind} of {name} stopped. {text}")),
    "approval_expired": _run_notice(_to_approvals(
        "<@{lead}>: nobody decided on “{summary}” in time, so that card has expired. I am asking again with a "
        "new card; please make sure someone decides it.")),
    **{kind: _run_notice(_nothing) for kind in ("run_denied", "run_done", "step_done", "step_waiting", "task_done")},
    **SLA_HANDLERS,
    "digest": send_digest,
}
