"""The buttons under an answer: "That solved it", "Still stuck", "Open a request", and the articles of a
"did you mean A or B?"."""
from __future__ import annotations

import logging
import re

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.flows import send_answer
from bot.ids import ActionId
from bot.notify import announce_opened
from bot.render import from_slack
from connectors.services import Services
from workflows.helpdesk import HelpdeskError

log = logging.getLogger(__name__)


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
        question, conversation = _conversation(client, record, user)
        if record.article_id:
            conversation += f"\nitbot answered with the article '{record.article_id}'; the employee is still stuck."
        opened = helpdesk.open_request(requester=user, text=question, source="still_stuck" if still_stuck else "offer",
                                       channel=record.channel, thread_ts=record.thread_ts, conversation=conversation)
        if opened.request is not None:   # (None: the person reached their limit of new requests)
            helpdesk.link_answer(record, opened.request)
        _replace_buttons(client, body, "Sorry that didn't do it. I'm handing this to a person." if still_stuck
                         else "OK, I'm handing this to a person.")
        announce_opened(client, helpdesk, opened)

    def handle_choose_article_action(ack: Ack, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        answer_id, _, article_id = str(action.get("value", "")).partition(":")
        try:
            record, article = helpdesk.choose_article(int(answer_id), user, article_id)
        except (HelpdeskError, ValueError) as exc:
            client.chat_postEphemeral(channel=body["channel"]["id"], user=user,
                                      text=str(exc) if isinstance(exc, HelpdeskError) else "That choice is not valid.")
            return
        _replace_buttons(client, body, f"You chose: {article.title}")
        send_answer(services, client, article=article, answer_id=record.id, problem=record.intent == "broken",
                    channel=record.channel, thread_ts=record.thread_ts)

    app.action(re.compile(rf"^{ActionId.CHOOSE_ARTICLE.value}_\d+$"))(handle_choose_article_action)
    app.action(ActionId.ANSWER_SOLVED.value)(handle_answer_solved_action)
    app.action(ActionId.ANSWER_STUCK.value)(handle_still_stuck_action)
    app.action(ActionId.OPEN_REQUEST.value)(handle_open_request_action)


def _conversation(client: WebClient, record, user: str) -> tuple[str, str]:
    """The employee's question in full and the whole thread as the request's conversation (what the employee
    and itbot said, in order), read from Slack; the recorded question when the thread cannot be read."""
    fallback = (record.question, f"Employee asked: {record.question}")
    if not record.channel or not record.thread_ts:
        return fallback
    try:
        messages = client.conversations_replies(channel=record.channel, ts=record.thread_ts, limit=200)["messages"]
    except (SlackApiError, KeyError, TypeError) as exc:
        log.warning("cannot read the thread for the request", extra={"error": str(exc)})
        return fallback
    lines, question = [], ""
    for message in sorted(messages or [], key=lambda m: float(m.get("ts") or 0)):
        text = from_slack(message.get("text") or "").strip()
        if not text:
            continue
        if message.get("user") == user and not message.get("bot_id"):
            question = question or text
            lines.append(f"Employee: {text}")
        elif message.get("bot_id") or message.get("user") != user:
            lines.append(f"itbot: {text}")
    if not question:
        return fallback
    return question, "Conversation so far:\n" + "\n".join(lines)


def _replace_buttons(client: WebClient, body: dict, note: str) -> None:
    """Update the answer in place so its buttons cannot be pressed twice."""
    message = body.get("message") or {}
    blocks = [b for b in message.get("blocks", []) if b.get("type") != "actions"]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    client.chat_update(channel=body["channel"]["id"], ts=message.get("ts") or body["container"]["message_ts"],
                       text=message.get("text") or note, blocks=blocks)
