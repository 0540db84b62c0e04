"""Knowledge-base Markdown is shown as Slack mrkdwn: no literal ``**bold**`` or ``[text](url)`` in any answer."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.render import markdown_to_mrkdwn, render
from workflows.triage.knowledge import KnowledgeBase

KB = KnowledgeBase.from_dir(Path(__file__).resolve().parents[2] / "config" / "kb")


@pytest.mark.parametrize("article", list(KB), ids=lambda a: a.id)
def test_every_article_converts_with_no_markdown_left(article):
    text = markdown_to_mrkdwn(article.body)
    assert "**" not in text and "](" not in text and "__" not in text
    assert not re.search(r"^\s*#", text, re.M), "headings become bold lines"
    assert not re.search(r"<(?![@#!]|https?://|mailto:)", text), "only links are live"
    blocks = render("answer", title=article.title, body=text, answer_id=1, team_name="Help desk")
    assert "**" not in blocks[0]["text"]["text"]


@pytest.mark.parametrize("markdown, mrkdwn", [
    ("**Ask IT** if *this* or __that__", "*Ask IT* if _this_ or *that*"),
    ("# Set up the VPN", "*Set up the VPN*"),
    ("## **Windows**", "*Windows*"),
    ("- first\n* second\n  + nested", "• first\n• second\n  • nested"),
    ("1. **Open** the [portal](https://portal.example.com/a?b=1)", "1. *Open* the <https://portal.example.com/a?b=1|portal>"),
    ("See <https://myaccount.microsoft.com> → *Groups*", "See <https://myaccount.microsoft.com> → _Groups_"),
    ("Type `\\\\files\\finance` & press <Enter>", "Type `\\\\files\\finance` &amp; press &lt;Enter&gt;"),
    ("```\nrun **this** <now>\n```", "```\nrun **this** &lt;now&gt;\n```"),
    ("~~old~~ new", "~old~ new"),
    ("2 * 3 * 4 stays", "2 * 3 * 4 stays"),
])
def test_the_converter(markdown, mrkdwn):
    assert markdown_to_mrkdwn(markdown) == mrkdwn


def test_an_answer_message_carries_the_converted_article(harness):
    article = KB.get("access-admin-rights")
    assert "**" in article.body
    harness.driver.dm("U0ANA", "how do I get admin rights on my laptop?")
    call = harness.fake.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("blocks"))
    text = call.args["blocks"][0]["text"]["text"]
    assert "**" not in text and "](" not in text and "*You probably do not need admin rights for:*" in text
