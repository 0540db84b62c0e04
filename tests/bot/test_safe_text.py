"""Text that reaches Slack is safe and reads right (issue 10), through the real app and FakeSlack.

Slack sends message text in its wire format: what a person typed has ``&``, ``<`` and ``>`` escaped as
``&amp;`` ``&lt;`` ``&gt;``; ``<!channel>``, ``<@U…>``, ``<#C…>`` and ``<https://…|label>`` unescaped are live
mentions and links (a real @channel picked from Slack's menu arrives as ``<!channel>``). Whatever an employee or
HR sends must reach every card, ``text`` fallback and relayed reply as text: pinging nobody, linking nowhere
under a disguise, and escaped exactly once.
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

from bot.app import make_client
from bot.run_notify import deliver
from tests.bot.test_helpdesk import h, clock, posts, say  # noqa: F401 (fixtures)
from tests.bot.test_hr_hook_http import _event

# What an employee's DM looks like on the wire: typed-in markup arrives escaped; real mentions and a link do not.
TYPED = "&lt;!channel&gt; &lt;@U0IT3&gt; &lt;https://evil.example/reset|Reset your password&gt;"
LIVE = "<!channel> <!here> <@U0CHLOE> <https://evil.example/login|Reset your password>"
WIRE = f"Outlook &amp; Teams crash every time I open them, please fix {TYPED} {LIVE}"
HOSTILE_IDS = {"U0CHLOE", "U0IT3", "U0CIO"}   # people only the hostile text names


def _itbots_own(construct: str) -> bool:
    """A mention of a person or channel itbot itself wrote (the requester, an approver, a team channel)."""
    person = re.fullmatch(r"<@(U\w+)>", construct)
    return bool(person and person.group(1) not in HOSTILE_IDS or re.fullmatch(r"<#C\w+>", construct))


def rendered(call) -> list[str]:
    """Every string of a message that Slack formats: its ``text`` and each mrkdwn text in its blocks
    (``plain_text`` is shown as it is: no mention or link in it is ever live)."""
    out = [call.args.get("text") or ""]

    def walk(node):
        if isinstance(node, dict) and node.get("type") == "plain_text":
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    out.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(call.args.get("blocks") or [])
    return out


def assert_inert(calls) -> None:
    """No live mention or link came from user text, and nothing is escaped twice."""
    shown = [s for c in calls if c.method in ("chat.postMessage", "chat.update") for s in rendered(c)]
    assert shown
    for text in shown:
        live = [m for m in re.findall(r"<[^<>]*>", text) if not _itbots_own(m)]
        assert live == [], f"live markup from user text in {text!r}"
        assert "&amp;amp;" not in text and "&amp;lt;" not in text, f"escaped twice: {text!r}"


def test_an_employees_markup_and_mentions_reach_the_team_card_as_text(h):
    calls = say(h, "U0ANA", WIRE)
    [r] = h.services.store.list_requests()
    assert r.description.startswith("Outlook & Teams crash"), "the store keeps plain text"
    assert "<!channel> <@U0IT3> <https://evil.example/reset|Reset your password>" in r.description, "typed: as typed"
    assert "@channel @here @U0CHLOE Reset your password (https://evil.example/login)" in r.description
    assert_inert(calls)
    [card] = posts(calls, r.team_channel)
    header, *_ = [b for b in card.args["blocks"] if b["type"] == "header"]
    assert header["text"]["text"].startswith(f"{r.number} · {r.priority} · Outlook & Teams"), "plain_text: as is"
    body = json.dumps(card.args["blocks"])
    assert "Outlook &amp; Teams" in body and "&lt;!channel&gt;" in body and "@channel @here @U0CHLOE" in body
    assert "Outlook &amp; Teams" in card.args["text"] and "<@U0ANA>" in card.args["text"], "only itbot's own mention"


def test_replies_relayed_between_threads_ping_nobody_and_read_right(h):
    say(h, "U0ANA", "my monitor flickers all the time")
    [r] = h.services.store.list_requests()
    mark = len(h.fake.calls)
    h.driver.dm("U0ANA", f"still broken &amp; now {LIVE} {TYPED}", thread_ts=r.thread_ts)
    calls = h.settle(after=mark)
    [to_team] = posts(calls, r.team_channel)
    assert to_team.args["text"].startswith("<@U0ANA>: still broken &amp; now @channel @here @U0CHLOE Reset your "
                                           "password (https://evil.example/login) &lt;!channel&gt;")
    mark = len(h.fake.calls)
    h.driver.channel_message("U0IT1", r.team_channel, "Try Ctrl &amp; Alt, then <!everyone> &lt;b&gt;",
                             thread_ts=r.team_ts)
    later = h.settle(after=mark)
    [to_employee] = posts(later, "D0ANA")
    assert to_employee.args["text"] == "<@U0IT1> (IT): Try Ctrl &amp; Alt, then @everyone &lt;b&gt;"
    assert_inert(calls + later)


def test_the_it_command_and_the_approval_card_read_right(h):
    mark = len(h.fake.calls)
    h.driver.command("U0ANA", "/it", "Outlook &amp; Teams &lt;3 <!channel>")
    [opened] = [c for c in h.settle(after=mark) if c.method == "views.open"]
    field = opened.args["view"]["blocks"][0]["element"]
    assert field["initial_value"] == "Outlook & Teams <3 @channel", "a plain_text_input shows plain text"
    calls = say(h, "U0ANA", "I need access to the finance share &amp; the <!here> drive please")
    [r] = h.services.store.list_requests()
    assert r.status == "awaiting_approval"
    assert_inert(calls)
    [card] = [c for c in calls if c.method == "chat.postMessage" and c.args["channel"] == r.approver]
    assert "finance share &amp; the @here drive" in json.dumps(card.args["blocks"])


HOSTILE = {"given_name": "Eve <!channel>", "surname": "Smith <https://evil.example|Reset your password>",
           "department": "R&D <@U0CIO>"}


def test_hr_fields_are_shown_as_text_on_every_run_card(h):
    status, _ = h.post_hr_event(_event(event_id="hostile-1", manager_slack_id=None, preferred_given_name=None,
                                         **HOSTILE))
    assert status == 202
    mark = len(h.fake.calls)
    deliver(h.services, make_client(h.settings), h.services.engine.tick("test"))
    calls = h.settle(after=mark)
    assert len([c for c in calls if c.method == "chat.postMessage"]) >= 2, "a task card and the progress card"
    assert_inert(calls)
    shown = " ".join(s for c in calls for s in rendered(c))
    assert "Eve &lt;!channel&gt; Smith &lt;https://evil.example|Reset your password&gt;" in shown


def test_names_with_bidi_overrides_or_zero_width_characters_never_reach_the_directory(h):
    status, body = h.post_hr_event(_event(event_id="spoof-1", given_name="Ann\u202eeciffo", surname="Lee\u200b",
                                          preferred_given_name="\u2066Ann"))
    assert status == 400
    errors = " ".join(body["errors"])
    assert "given_name: contains an invisible character (U+202E RIGHT-TO-LEFT OVERRIDE)" in errors
    assert "surname: contains an invisible character (U+200B ZERO WIDTH SPACE)" in errors
    assert "preferred_given_name: contains an invisible character (U+2066 LEFT-TO-RIGHT ISOLATE)" in errors
    assert h.services.store.list_runs() == []


def test_the_csv_import_refuses_spoofed_names_too(tmp_path):
    from tests.bot.test_import_cli import FakeStarter, run

    start = (date.today() + timedelta(days=10)).isoformat()
    path = tmp_path / "people.csv"
    path.write_text("event_id,kind,given_name,surname,employee_id,department,title,manager,start_date\n"
                    f"c-1,onboarding,Zoë,Ødegård,E1,Sales,Rep,jane.doe,{start}\n"
                    f"c-2,onboarding,Ann\u200d,Lee,E2,Sales,Rep,jane.doe,{start}\n", encoding="utf-8")
    starter = FakeStarter()
    code, _, err = run(path, starter)
    assert code != 0 and starter.calls == [], "nothing starts from a file with mistakes"
    assert "row 3: given_name: contains an invisible character (U+200D ZERO WIDTH JOINER)" in err
