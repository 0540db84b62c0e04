"""The team's buttons on a request card, the reassign modal, and the approver's buttons."""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.ids import ActionId, BlockId, CallbackId
from bot.notify import post_team_card, tell_employee, tell_team, update_team_card
from bot.render import render
from connectors.services import Services
from workflows.helpdesk import HelpdeskError


def _ephemeral(client: WebClient, body: dict, text: str) -> None:
    channel = (body.get("channel") or {}).get("id") or body["user"]["id"]
    client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def register(app: App, services: Services) -> None:
    helpdesk = services.helpdesk

    def _card(body: dict) -> tuple[str, str]:
        return body["channel"]["id"], body["container"]["message_ts"]

    def handle_claim_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        try:
            r = helpdesk.claim(int(action["value"]), user)
        except HelpdeskError as exc:
            return _ephemeral(client, body, str(exc))
        update_team_card(client, helpdesk, r)
        tell_employee(client, r, f"<@{user}> from {services.teams.team(r.team).name} is working on {r.number}.")

    def handle_resolve_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        try:
            r = helpdesk.resolve(int(action["value"]), user)
        except HelpdeskError as exc:
            return _ephemeral(client, body, str(exc))
        update_team_card(client, helpdesk, r, note=f"Resolved by <@{user}>.")
        tell_employee(client, r, f"<@{user}> resolved {r.number}. If it is still not right, reply in this thread.")

    def handle_escalate_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        channel, ts = _card(body)
        try:
            moved = helpdesk.escalate(int(action["value"]), user)
        except HelpdeskError as exc:
            return _ephemeral(client, body, str(exc))
        r = post_team_card(client, helpdesk, moved.request)
        update_team_card(client, helpdesk, r, channel=channel, ts=ts,
                         note=f"Escalated to {moved.to_team.name} by <@{user}>.")
        tell_employee(client, r, f"{r.number} has moved to {moved.to_team.name}, who will take it from here.")

    def handle_reassign_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        r = services.store.get_request(int(action["value"]))
        if r is None:
            return _ephemeral(client, body, f"Request {action['value']} does not exist.")
        if not services.teams.is_member(r.team, body["user"]["id"]):
            return _ephemeral(client, body, "Only the owning team can reassign this request.")
        client.views_open(trigger_id=body["trigger_id"], view=render("reassign_modal", r=r))

    def handle_reassign_submission(ack: Ack, body: dict, view: dict, client: WebClient) -> None:
        user = body["user"]["id"]
        assignee = (view["state"]["values"].get(BlockId.ASSIGNEE.value, {}).get("value") or {}).get("selected_user")
        if not assignee:
            return ack(response_action="errors", errors={BlockId.ASSIGNEE.value: "Choose who should take it."})
        try:
            r = helpdesk.reassign(int(view["private_metadata"]), user, assignee)
        except HelpdeskError as exc:
            return ack(response_action="errors", errors={BlockId.ASSIGNEE.value: str(exc)})
        ack()
        update_team_card(client, helpdesk, r)
        tell_team(client, r, f"<@{user}> reassigned {r.number} to <@{assignee}>.")
        tell_employee(client, r, f"{r.number} is now with <@{assignee}>.")

    def handle_decision_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        approve = action["action_id"] == ActionId.APPROVE.value
        try:
            r = helpdesk.decide(int(action["value"]), user, approve)
        except HelpdeskError as exc:
            return _ephemeral(client, body, str(exc))
        team = services.teams.team(r.team)
        verdict = f"{'Approved' if approve else 'Denied'} by <@{user}>."
        channel, ts = _card(body)
        client.chat_update(channel=channel, ts=ts, text=f"{r.number}: {verdict}",
                           blocks=render("approval_card", r=r, team_name=team.name, decision=verdict))
        if approve:
            r = post_team_card(client, helpdesk, r)
            tell_employee(client, r, f"<@{user}> approved {r.number}; it is now with {team.name}.")
        else:
            tell_employee(client, r, f"<@{user}> did not approve {r.number}. Reply here if you want to discuss it.")

    app.action(ActionId.CLAIM.value)(handle_claim_action)
    app.action(ActionId.RESOLVE.value)(handle_resolve_action)
    app.action(ActionId.ESCALATE.value)(handle_escalate_action)
    app.action(ActionId.REASSIGN.value)(handle_reassign_action)
    app.view(CallbackId.REASSIGN_MODAL.value)(handle_reassign_submission)
    app.action(ActionId.APPROVE.value)(handle_decision_action)
    app.action(ActionId.DENY.value)(handle_decision_action)
