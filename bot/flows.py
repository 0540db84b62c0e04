"""What itbot does with an employee's words: small talk, an answer, or a request."""
from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.attempt import once
from bot.notify import announce_opened
from bot.render import markdown_to_mrkdwn, render, slack_escape
from connectors.services import Services
from workflows.conversation import capabilities, small_talk
from workflows.helpdesk import Opened, Understanding
from workflows.request_limits import Limited
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
    if u.answerable:
        record = _record_answer(services, user, u, "answered", channel, thread_ts)
        send_answer(services, client, article=u.article, answer_id=record.id, problem=u.offers_first,
                    channel=channel, thread_ts=thread_ts)
    elif u.asks:
        ask_which(services, client, user=user, u=u, channel=channel, thread_ts=thread_ts)
    elif u.wants_request:
        opened = once("open-request", lambda: helpdesk.open_request(  # one request, however often it is retried
            requester=user, text=text, source=source, channel=channel, thread_ts=thread_ts, understanding=u),
            keep=lambda o: o.request.id if isinstance(o, Opened) else None,
            restore=lambda rid: helpdesk.opened_before(rid, text, u) if rid is not None
            else Limited(user, "minute", 0, False, channel, thread_ts))   # refused before: nothing more to say
        announce_opened(client, helpdesk, opened)
    else:
        offer_request(services, client, user=user, u=u, channel=channel, thread_ts=thread_ts)


def _record_answer(services: Services, user: str, u: Understanding, outcome: str, channel: str, thread_ts: str):
    """One answer-log row per message, however often its event is retried."""
    helpdesk = services.helpdesk
    return once("record-answer", lambda: helpdesk.record_answer(user, u, outcome, channel=channel, thread_ts=thread_ts),
                keep=lambda record: record.id, restore=helpdesk.store.get_answer)


def send_answer(services: Services, client: WebClient, *, article, answer_id: int, problem: bool, channel: str,
                thread_ts: str) -> None:
    """The article, with "That solved it" and "Still stuck" (for a problem: "Open a request", one click)."""
    try:
        team_name = services.teams.team(article.team).name
    except KeyError:
        team_name = "IT"
    blocks = render("answer", title=article.title, body=kb_body(article), answer_id=answer_id,
                    team_name=team_name, problem=problem)
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=article.title, blocks=blocks)


def ask_which(services: Services, client: WebClient, *, user: str, u: Understanding, channel: str,
              thread_ts: str) -> None:
    """Two articles are too close to call: ask, one button each, and "open a request"."""
    record = _record_answer(services, user, u, "clarify", channel, thread_ts)
    first, second = u.choices[:2]
    question = (f"I'm not sure which of these you need. Did you mean *{slack_escape(first.title)}* or "
                f"*{slack_escape(second.title)}*?")
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=question,
                            blocks=render("did_you_mean", question=question, choices=u.choices[:2],
                                          answer_id=record.id))


def offer_request(services: Services, client: WebClient, *, user: str, u: Understanding, channel: str,
                  thread_ts: str) -> None:
    record = _record_answer(services, user, u, "no_answer", channel, thread_ts)
    if u.triage.intent == "how_to":
        question = ("I don't have a good answer for that yet. Could you tell me a little more (which app or "
                    "device, and what you tried)? Or I can open a request and a person will help.")
    else:
        question = ("I'm not sure I understood. You can rephrase it, or I can open a request and a person will "
                    "help. " + capabilities(services.org))
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=question,
                            blocks=render("no_answer", question=question, answer_id=record.id))


def relay(services: Services, client: WebClient, r: ItRequest, *, user: str, text: str, channel: str) -> None:
    """Carry a reply between the employee's thread and the team's thread; what the employee adds in their thread
    also becomes part of the request."""
    if channel == r.team_channel:
        if not services.teams.is_member(r.team, user):   # only the owning team speaks for IT to the employee
            client.chat_postEphemeral(channel=channel, user=user,
                                      text=f"Only {services.teams.team(r.team).name} replies reach the employee; "
                                           f"yours stays in this thread.")
            return
        services.helpdesk.note_reply(r, user)
        client.chat_postMessage(channel=r.channel, thread_ts=r.thread_ts, text=f"<@{user}> (IT): {slack_escape(text)}")
    else:
        services.helpdesk.add_followup(r, user, text)
        if r.team_channel and r.team_ts:
            client.chat_postMessage(channel=r.team_channel, thread_ts=r.team_ts,
                                    text=f"<@{user}>: {slack_escape(text)}")
