"""Onboarding and offboarding in Slack: /onboard and /offboard (HR only), approval and task buttons."""
from __future__ import annotations

import logging
from typing import Any, Callable

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.ids import RunActionId, RunCallbackId
from bot.render import render, slack_escape
from bot.run_notify import approval_blocks
from connectors.services import Services
from workflows.directory import DirectoryError
from workflows.directory_plans import PersonError
from workflows.engine import RunError
from workflows.hr import HrEventError, parse_hr_event

log = logging.getLogger(__name__)

ONBOARD_FIELDS = [
    ("given_name", "Legal first name", "text", False), ("surname", "Legal last name", "text", False),
    ("preferred_given_name", "Preferred first name", "text", True), ("employee_id", "Employee ID", "text", False),
    ("department", "Department", "text", False), ("title", "Job title", "text", False),
    ("manager", "Manager's username", "text", False), ("manager_slack_id", "Manager in Slack", "user", True),
    ("start_date", "Start date", "date", False), ("office", "Office", "text", True),
    ("usage_location", "Country (ISO code, e.g. GB)", "text", True), ("timezone", "Time zone (e.g. Europe/London)", "text", True),
    ("contractor", "Contractor?", "bool", True), ("end_date", "Contract end date", "date", True),
]
OFFBOARD_FIELDS = [
    ("username", "Username", "text", False), ("last_day", "Last working day", "date", False),
    ("manager", "Manager's username (gets the handover)", "text", True),
    ("terminate_now", "Terminate now (emergency: disable and revoke at once)", "bool", True),
]
KINDS = {RunCallbackId.ONBOARD_MODAL.value: ("onboarding", ONBOARD_FIELDS),
         RunCallbackId.OFFBOARD_MODAL.value: ("offboarding", OFFBOARD_FIELDS)}


def _fields(spec: list[tuple[str, str, str, bool]]) -> list[dict[str, Any]]:
    return [{"id": f, "label": label, "kind": kind, "optional": optional} for f, label, kind, optional in spec]


def _value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "checkboxes":
        return bool(element.get("selected_options"))
    if kind == "users_select":
        return element.get("selected_user")
    return (element.get("value") or "").strip() or None


def payload_from_view(view: dict[str, Any], kind: str, user: str) -> dict[str, Any]:
    values = view["state"]["values"]
    payload = {block: _value(next(iter(v.values()), {})) for block, v in values.items()}
    payload = {k: v for k, v in payload.items() if v not in (None, False) or k in ("contractor",)}
    return {**payload, "kind": kind, "event_id": f"slack-{view['id']}", "requested_by": user}


def register(app: App, services: Services) -> None:
    engine, policy = services.engine, services.run_policy

    def _open(callback: str, title: str, submit: str, spec):
        def handle_run_command(ack: Ack, body: dict, client: WebClient) -> None:
            if not policy.may_start(body["user_id"]):
                return ack(f"Only HR can start this. Ask your HR team, or <#{policy.approvals_channel}>.")
            ack()
            client.views_open(trigger_id=body["trigger_id"], view=render(
                "run_modal", callback_id=callback, title=title, submit=submit, fields=_fields(spec)))
        return handle_run_command

    def handle_run_submission(ack: Ack, body: dict, view: dict, client: WebClient) -> None:
        user = body["user"]["id"]
        kind, spec = KINDS[view["callback_id"]]
        if not policy.may_start(user):
            return ack(response_action="errors", errors={spec[0][0]: "Only HR can start this."})
        try:
            event = parse_hr_event(payload_from_view(view, kind, user), "slack")
        except HrEventError as exc:
            blocks = {f for f, *_ in spec}
            errors: dict[str, str] = {}
            for problem in exc.problems:
                field, _, message = problem.partition(": ")
                target = field if field in blocks else spec[0][0]
                errors[target] = (errors.get(target, "") + " " + (message if field in blocks else problem)).strip()[:150]
            return ack(response_action="errors", errors=errors)
        ack()   # within Slack's 3 s; starting the run may read the directories (the username), so it comes after
        dm = client.conversations_open(users=user)["channel"]["id"]
        name = slack_escape(event.person.display_name)
        try:
            started = engine.start_run(event)
        except PersonError as exc:   # e.g. the username given belongs to someone else: nothing was started
            client.chat_postMessage(channel=dm, text=f"Did not start {kind} for {name}: "
                                                     + slack_escape("; ".join(exc.problems))
                                                     + ". Fix it and send the form again.")
            return
        except (ValueError, DirectoryError) as exc:   # the form was valid but the run cannot start as it is
            client.chat_postMessage(channel=dm, text=f"I could not start {kind} for {name}: {slack_escape(exc)}. "
                                                     "Nothing was changed; fix it and submit the form again.")
            return
        client.chat_postMessage(channel=dm, text=f"Started {kind} for {name} (run {started.run_id}). "
                                                 f"Progress is in <#{policy.progress_channel}>.")
        services.wake()   # the worker takes the run's first steps

    def handle_run_decision_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        approve = action["action_id"] == RunActionId.APPROVE.value
        decided = _attempt(client, body, lambda: engine.decide(int(action["value"]), user, approve))
        if decided is None:
            return
        approval, _ = decided
        run = services.store.get_run(approval.run_id)
        if approval.status == "pending":
            decision = f"IT approved by <@{user}>; waiting for Security." if approval.decided_by == user \
                else f"Security approved by <@{user}>; waiting for IT."
        else:
            decision = f"{'Approved' if approval.status == 'approved' else 'Denied'} by <@{user}>."
        client.chat_update(channel=body["channel"]["id"], ts=body["container"]["message_ts"], text=decision,
                           blocks=approval_blocks(services, run, approval, decision))
        services.wake()   # the decision is recorded (and what it announces is in the outbox): the worker acts

    def _redraw_task(client: WebClient, body: dict, step: Any, what: str) -> None:
        """Update the task card in place (who has it, or that it is done)."""
        run = services.store.get_run(step.run_id)
        client.chat_update(channel=body["channel"]["id"], ts=body["container"]["message_ts"],
                           text=f"{slack_escape(step.title)}: {what}",
                           blocks=render("run_task", run=run, step=step, text=(step.result or {}).get("task", "")))

    def handle_task_done_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        notices = _attempt(client, body, lambda: engine.complete_task(int(action["value"]), user))
        if notices is None:
            return
        _redraw_task(client, body, services.store.get_step(int(action["value"])), f"done by <@{user}>")
        services.wake()

    def handle_task_claim_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        step = _attempt(client, body, lambda: engine.claim_task(int(action["value"]), user))
        if step is not None:
            _redraw_task(client, body, step, f"claimed by <@{user}>")

    def handle_run_stop_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        if _attempt(client, body, lambda: engine.stop_run(int(action["value"]), body["user"]["id"])) is not None:
            services.wake()

    app.command("/onboard")(_open(RunCallbackId.ONBOARD_MODAL.value, "Onboard a new hire", "Start onboarding",
                                  ONBOARD_FIELDS))
    app.command("/offboard")(_open(RunCallbackId.OFFBOARD_MODAL.value, "Offboard a leaver", "Start offboarding",
                                   OFFBOARD_FIELDS))
    app.view(RunCallbackId.ONBOARD_MODAL.value)(handle_run_submission)
    app.view(RunCallbackId.OFFBOARD_MODAL.value)(handle_run_submission)
    app.action(RunActionId.STOP.value)(handle_run_stop_action)
    app.action(RunActionId.APPROVE.value)(handle_run_decision_action)
    app.action(RunActionId.DENY.value)(handle_run_decision_action)
    app.action(RunActionId.TASK_DONE.value)(handle_task_done_action)
    app.action(RunActionId.TASK_CLAIM.value)(handle_task_claim_action)


def _attempt(client: WebClient, body: dict, call: Callable[[], Any]) -> Any:
    """An engine action for the person who clicked; a refusal (RunError) is shown to them alone and gives None."""
    try:
        return call()
    except RunError as exc:
        client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"], text=str(exc))
        return None
