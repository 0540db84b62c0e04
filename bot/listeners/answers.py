"""The buttons under an answer: "That solved it", "Still stuck", "Open a request"."""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.ids import ActionId
from bot.notify import announce_opened
from connectors.services import Services
from workflows.helpdesk import HelpdeskError


def register(app: App, services: Services) -> None:
    helpdesk = services.helpdesk

    def handle_answer_solved_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        try:
            helpdesk.answer_feedback(int(action["value"]), user, solved=True)
        except HelpdeskError as exc:
            client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=str(exc))
            return
        _replace_buttons(client, body, "Great, glad that solved it. Thanks for letting me know!")

    def handle_still_stuck_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        _open_from_answer(body, action, client, still_stuck=True)

    def handle_open_request_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        _open_from_answer(body, action, client, still_stuck=False)

    def _open_from_answer(body: dict, action: dict, client: WebClient, *, still_stuck: bool) -> None:
        user = body["user"]["id"]
        record = services.store.get_answer(int(action["value"]))
        try:
            if record is None:
                raise HelpdeskError("That answer is no longer on record.")
            if record.user_slack_id != user:
                raise HelpdeskError("Only the person who asked can open a request from this answer.")
            if record.request_id:
                raise HelpdeskError(f"A request was already opened for this: IT-{record.request_id:05d}.")
            # a double click (or two replicas) must open one request: the store's once-only key decides
            if not services.store.mark_event_seen(f"answer-request:{record.id}"):
                raise HelpdeskError("A request is already being opened for this.")
            if still_stuck:
                record = helpdesk.answer_feedback(record.id, user, solved=False)
        except HelpdeskError as exc:
            client.chat_postEphemeral(channel=body["channel"]["id"], user=user, text=str(exc))
            return
        conversation = f"Employee asked: {record.question}"
        if record.article_id:
            conversation += f"\nitbot answered with the article '{record.article_id}'; the employee is still stuck."
        opened = helpdesk.open_request(requester=user, text=record.question, source="still_stuck" if still_stuck else "offer",
                                       channel=record.channel, thread_ts=record.thread_ts, conversation=conversation)
        if opened.request is not None:   # (None: the person reached their limit of new requests)
            helpdesk.link_answer(record, opened.request)
        _replace_buttons(client, body, "Sorry that didn't do it. I'm handing this to a person." if still_stuck
                         else "OK, I'm handing this to a person.")
        announce_opened(client, helpdesk, opened)

    app.action(ActionId.ANSWER_SOLVED.value)(handle_answer_solved_action)
    app.action(ActionId.ANSWER_STUCK.value)(handle_still_stuck_action)
    app.action(ActionId.OPEN_REQUEST.value)(handle_open_request_action)


def _replace_buttons(client: WebClient, body: dict, note: str) -> None:
    """Update the answer in place so its buttons cannot be pressed twice."""
    message = body.get("message") or {}
    blocks = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    client.chat_update(channel=body["channel"]["id"], ts=message.get("ts") or body["container"]["message_ts"],
                       text=message.get("text") or note, blocks=blocks)
