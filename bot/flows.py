"""What itbot does with an employee's words: small talk, an answer, or a request."""
from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.notify import announce_opened
from bot.render import markdown_to_mrkdwn, render, slack_escape
from connectors.services import Services
from workflows.conversation import capabilities, small_talk
from workflows.helpdesk import Understanding
from workflows.models import ItRequest

log = logging.getLogger(__name__)
EMPTY_REPLY = "I didn't catch any text there. Tell me what you need, or what isn't working, in a sentence or two."


def kb_body(article) -> str:
    """The article's Markdown as Slack mrkdwn (bot.render.markdown_to_mrkdwn)."""
    return markdown_to_mrkdwn(article.body)


def respond_to_employee(services: Services, client: WebClient, *, user: str, text: str, channel: str,
                        thread_ts: str, source: str, reply_in_thread: bool) -> None:
    """Answer small talk, answer from the knowledge base, or open a request."""
    helpdesk, org = services.helpdesk, services.org
    text = text.strip()
    reply_thread = thread_ts if reply_in_thread else None
    if not text:
        client.chat_postMessage(channel=channel, thread_ts=reply_thread, text=EMPTY_REPLY)
        return
    talk = small_talk(text, f"<@{user}>", org)
    if talk:
        client.chat_postMessage(channel=channel, thread_ts=reply_thread, text=talk.text)
        return
    u = helpdesk.understand(text)
    log.info("triaged", extra={"intent": u.triage.intent, "topic": u.triage.topic,
                               "confidence": round(u.triage.confidence, 2), "article": u.triage.article_id})
    if u.wants_request:
        opened = helpdesk.open_request(requester=user, text=text, source=source, channel=channel,
                                       thread_ts=thread_ts, understanding=u)
        announce_opened(client, helpdesk, opened)
    elif u.answerable:
        send_answer(services, client, user=user, u=u, channel=channel, thread_ts=thread_ts)
    else:
        offer_request(services, client, user=user, u=u, channel=channel, thread_ts=thread_ts)


def send_answer(services: Services, client: WebClient, *, user: str, u: Understanding, channel: str,
                thread_ts: str) -> None:
    record = services.helpdesk.record_answer(user, u, "answered", channel=channel, thread_ts=thread_ts)
    try:
        team_name = services.teams.team(u.article.team).name
    except KeyError:
        team_name = "IT"
    blocks = render("answer", title=u.article.title, body=kb_body(u.article), answer_id=record.id,
                    team_name=team_name)
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=u.article.title, blocks=blocks)


def offer_request(services: Services, client: WebClient, *, user: str, u: Understanding, channel: str,
                  thread_ts: str) -> None:
    record = services.helpdesk.record_answer(user, u, "no_answer", channel=channel, thread_ts=thread_ts)
    if u.triage.intent == "how_to":
        question = ("I don't have a good answer for that yet. Could you tell me a little more (which app or "
                    "device, and what you tried)? Or I can open a request and a person will help.")
    else:
        question = ("I'm not sure I understood. You can rephrase it, or I can open a request and a person will "
                    "help. " + capabilities(services.org))
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=question,
                            blocks=render("no_answer", question=question, answer_id=record.id))


def relay(services: Services, client: WebClient, r: ItRequest, *, user: str, text: str, channel: str) -> None:
    """Carry a reply between the employee's thread and the team's thread."""
    if channel == r.team_channel:
        if not services.teams.is_member(r.team, user):   # only the owning team speaks for IT to the employee
            client.chat_postEphemeral(channel=channel, user=user,
                                      text=f"Only {services.teams.team(r.team).name} replies reach the employee; "
                                           f"yours stays in this thread.")
            return
        services.helpdesk.note_reply(r, user)
        client.chat_postMessage(channel=r.channel, thread_ts=r.thread_ts, text=f"<@{user}> (IT): {slack_escape(text)}")
    elif r.team_channel and r.team_ts:
        client.chat_postMessage(channel=r.team_channel, thread_ts=r.team_ts, text=f"<@{user}>: {slack_escape(text)}")
