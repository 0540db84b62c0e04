"""Block Kit from Jinja2 templates: one Environment, every value through tojson, user text escaped.

Text crosses the Slack boundary twice, and is converted once each way:

* **in**: ``from_slack`` turns message text in Slack's wire format (``&amp;`` ``&lt;`` ``&gt;`` for what a person
  typed, ``<…>`` for live mentions and links) into the plain text a person sees; that is what the store keeps.
  Text from modals, the HR webhook and CSV files is plain already.
* **out**: ``slack_escape`` encodes plain text for mrkdwn and for the ``text`` of a message, so nothing in it is
  live: ``<!channel>`` typed by someone shows as those characters and pings nobody. ``plain_text`` objects
  (headers, buttons, inputs) take plain text as it is.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.ids import ActionId, BlockId, CallbackId, DigestActionId, RunActionId, RunCallbackId

TEMPLATES = Path(__file__).resolve().parent / "templates"
SECTION_LIMIT = 3000


_CONSTRUCT = re.compile(r"<([^<>]*)>")


def slack_escape(text: Any) -> str:
    """Encode plain text for mrkdwn or a message's ``text``: the three characters Slack treats as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user: str | None, missing: str = "—") -> str:
    """mrkdwn for who did something: ``<@U…>`` for a Slack user id, else the value as text (an HR system's name)."""
    if not user:
        return missing
    return f"<@{user}>" if user[:1] in "UW" and user.isalnum() else slack_escape(user)


def from_slack(text: str) -> str:
    """Message text as Slack sends it → the plain text a person sees (``slack_escape`` undoes it, inert).

    Live constructs become what Slack shows for them: ``<@U1>`` → ``@U1``, ``<!channel>`` → ``@channel``,
    ``<#C1|it>`` → ``#it``, ``<https://x|Reset>`` → ``Reset (https://x)``; escapes are decoded, ``&amp;`` last.
    """
    text = _CONSTRUCT.sub(lambda m: _shown(m.group(1)), text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _shown(inner: str) -> str:
    target, _, label = inner.partition("|")
    kind, name = target[:1], target[1:].split("^")[0]
    if kind == "@":   # a person
        return "@" + (label.lstrip("@") or name)
    if kind == "!":   # @channel, @here, @everyone; a user group or a date shows its label
        return "@" + name if name in ("channel", "here", "everyone", "group") or not label else label
    if kind == "#":
        return "#" + (label or name)
    address = target.removeprefix("mailto:")
    return address if not label or label in (target, address) else f"{label} ({address})"


_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^<>\s]+)>")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*\n]*?[^\s*])?\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")


def markdown_to_mrkdwn(markdown: str) -> str:
    """A knowledge-base article's Markdown as Slack mrkdwn: ``**b**``/``__b__`` → ``*b*``, ``*i*`` → ``_i_``,
    ``~~s~~`` → ``~s~``, ``[text](url)`` and ``<url>`` → Slack links, headings → bold lines, ``-``/``*``/``+``
    items → ``•``; code spans and fenced blocks are kept as they are, and ``& < >`` are escaped everywhere else."""
    out, fenced = [], False
    for line in (markdown or "").strip().splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            out.append("```")
            continue
        out.append(slack_escape(line) if fenced else _mrkdwn_line(line))
    return "\n".join(out)


def _mrkdwn_line(line: str) -> str:
    kept: list[str] = []

    def keep(text: str) -> str:
        kept.append(text)
        return f"\x00{len(kept) - 1}\x00"

    line = _CODE.sub(lambda m: keep(slack_escape(m.group(0))), line)
    line = _LINK.sub(lambda m: keep(f"<{m.group(2)}|{slack_escape(m.group(1)).replace('*', '').replace('|', '/')}>"),
                     line)
    line = _AUTOLINK.sub(lambda m: keep(f"<{m.group(1)}>"), line)
    line = slack_escape(line)
    heading = _HEADING.match(line)
    if heading:
        line = "\x01" + heading.group(1).replace("**", "").replace("__", "") + "\x01"
    line = _BULLET.sub(lambda m: m.group(1) + "• ", line)
    line = _BOLD.sub(lambda m: f"\x01{m.group(2)}\x01", line)
    line = _ITALIC.sub(lambda m: f"_{m.group(1) or ''}_", line)
    line = _STRIKE.sub(lambda m: f"~{m.group(1)}~", line).replace("\x01", "*")
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], line)


def clip(text: Any, limit: int = SECTION_LIMIT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["slack_escape"] = slack_escape
    env.filters["clip"] = clip
    env.globals.update(ActionId=ActionId, CallbackId=CallbackId, BlockId=BlockId, RunActionId=RunActionId,
                       RunCallbackId=RunCallbackId, DigestActionId=DigestActionId)
    return env


def render(name: str, **context: Any) -> Any:
    """Render ``<name>.json.j2`` and parse it: a list of blocks or a view dict."""
    text = environment().get_template(f"{name}.json.j2").render(**context)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {name} produced invalid JSON at line {exc.lineno}: {exc.msg}") from None
