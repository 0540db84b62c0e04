"""Answers that land, through the real app: "did you mean A or B?", a problem offered its article with the
request one click away, "Still stuck" carrying the whole thread, follow-ups added to the open request; and
`itbot kb eval` / `itbot triage --jsonl`'s article."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.devtools.harness import Harness
from bot.ids import ActionId
from tests.bot.test_helpdesk import TUESDAY_10, Clock, buttons, click, only_request, posts, say, team_channel

REPO = Path(__file__).resolve().parents[2]
CLOSE_CALL = "how do I set up the vpn, it will not connect"          # setup and troubleshooting score alike
PROBLEM = "I accidentally deleted a folder of emails, can I get them back?"


@pytest.fixture
def h(tmp_path):
    with Harness(database_url=f"sqlite:///{tmp_path / 'itbot.db'}", clock=Clock(TUESDAY_10)) as harness:
        yield harness


def _itbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_two_close_articles_get_did_you_mean_with_a_button_each_and_a_request(h):
    [asked] = posts(say(h, "U0ANA", CLOSE_CALL), "D0ANA")
    assert "did you mean" in asked.args["text"].lower()
    choices = buttons(asked)
    assert set(choices) == {f"{ActionId.CHOOSE_ARTICLE.value}_0", f"{ActionId.CHOOSE_ARTICLE.value}_1",
                            ActionId.OPEN_REQUEST.value}
    assert {v.partition(":")[2] for k, v in choices.items() if k != ActionId.OPEN_REQUEST.value} == {
        "vpn-setup", "vpn-troubleshooting"}
    assert [a.outcome for a in h.services.store.list_answers()] == ["clarify"]
    assert h.services.store.list_requests() == []

    # someone else cannot choose for the employee
    action = next(k for k, v in choices.items() if v.endswith(":vpn-troubleshooting"))
    mark = len(h.fake.calls)
    h.driver.click("U0BEN", action, choices[action], channel="D0ANA", message_ts=asked.response["ts"])
    refused = h.fake.wait_for("chat.postEphemeral", after=mark)
    assert "Only the person who asked" in refused.args["text"]
    assert h.services.store.list_answers()[0].outcome == "clarify"

    mark = len(h.fake.calls)
    h.driver.click("U0ANA", action, choices[action], channel="D0ANA", message_ts=asked.response["ts"])
    calls = h.settle(after=mark)
    [answer] = [c for c in posts(calls, "D0ANA") if "VPN" in c.args["text"]]
    assert answer.args["thread_ts"] == asked.args["thread_ts"]
    assert ActionId.ANSWER_SOLVED.value in buttons(answer)
    [record] = h.services.store.list_answers()
    assert (record.outcome, record.article_id) == ("answered", "vpn-troubleshooting")
    updated = h.fake.calls_to("chat.update")[-1]
    assert not [b for b in updated.args["blocks"] if b["type"] == "actions"], "the choice cannot be made twice"


def test_neither_opens_a_request_from_did_you_mean(h):
    [asked] = posts(say(h, "U0ANA", CLOSE_CALL), "D0ANA")
    click(h, "U0ANA", ActionId.OPEN_REQUEST, buttons(asked)[ActionId.OPEN_REQUEST.value], channel="D0ANA",
          ts=asked.response["ts"])
    request = only_request(h)
    assert request.topic == "vpn" and CLOSE_CALL in request.description


def test_a_problem_an_article_solves_gets_the_article_first_and_the_request_one_click_away(h):
    [answer] = posts(say(h, "U0ANA", PROBLEM), "D0ANA")
    assert "Recover deleted emails" in answer.args["text"]
    assert set(buttons(answer)) == {ActionId.ANSWER_SOLVED.value, ActionId.OPEN_REQUEST.value}
    assert "one click away" in json.dumps(answer.args["blocks"])
    assert h.services.store.list_requests() == []

    # the employee adds detail in the thread, then opens the request: it carries the whole conversation
    long_detail = "It was the Projects folder. " + "It held every client contract from 2023. " * 12
    say(h, "U0ANA", long_detail, thread_ts=answer.args["thread_ts"])
    calls = click(h, "U0ANA", ActionId.OPEN_REQUEST, buttons(answer)[ActionId.OPEN_REQUEST.value],
                  channel="D0ANA", ts=answer.response["ts"])
    requests = h.services.store.list_requests()
    assert len(requests) == 1, "the follow-up was not a new request"
    [request] = requests
    assert request.summary.startswith("I accidentally deleted a folder of emails")
    assert PROBLEM in request.description and long_detail.strip() in request.description
    assert "backup-email-recovery" in request.description
    assert posts(calls, team_channel(h, request.team))


def test_follow_ups_in_a_request_thread_are_added_to_the_request(h):
    calls = say(h, "U0ANA", "my laptop won't turn on, the screen stays black")
    request = only_request(h)
    [told] = posts(calls, "D0ANA")
    mark = len(h.fake.calls)
    h.driver.dm("U0ANA", "I tried another charger too, still nothing", thread_ts=told.args["thread_ts"])
    calls = h.settle(after=mark)
    assert len(h.services.store.list_requests()) == 1, "a follow-up is not triaged as a new message"
    updated = h.services.store.get_request(request.id)
    assert "I tried another charger too, still nothing" in updated.description
    assert [c for c in posts(calls, team_channel(h, request.team)) if "another charger" in c.args["text"]]


def test_kb_eval_prints_right_wrong_and_unanswered(tmp_path):
    path = tmp_path / "labelled.jsonl"
    rows = [{"text": "how do I set up an out of office reply in outlook?", "article": "email-out-of-office"},
            {"text": "how do I set up an out of office reply in outlook?", "article": "email-signature"},
            {"text": "what is the capital of peru", "article": "none"},
            {"text": "what is the capital of peru", "article": "network-wifi"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = _itbot("kb", "eval", str(path))
    assert result.returncode == 0, result.stderr
    table = {" ".join(line.split()[:-2]): line.split()[-2:] for line in result.stdout.splitlines()[1:4]}
    assert table == {"right": ["2", "50.0%"], "wrong article": ["1", "25.0%"], "no answer": ["1", "25.0%"]}
    as_json = json.loads(_itbot("kb", "eval", "--json", str(path)).stdout)
    assert as_json["right"] == {"count": 2, "rate": 0.5}
    (tmp_path / "bad.jsonl").write_text('{"text": "x", "article": "no-such-article"}\n')
    bad = _itbot("kb", "eval", str(tmp_path / "bad.jsonl"))
    assert bad.returncode == 2 and "bad.jsonl:1: no article 'no-such-article'" in bad.stderr


def test_triage_jsonl_article_is_what_the_bot_would_answer_with(tmp_path):
    texts = ["how do I set up an out of office reply in outlook?", CLOSE_CALL, PROBLEM,
             "my laptop won't turn on, the screen stays black", "please install visio on my laptop"]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    result = _itbot("triage", "--jsonl", str(path))
    assert result.returncode == 0, result.stderr
    decided = [json.loads(line) for line in result.stdout.splitlines()]
    assert set(decided[0]) == {"intent", "topic", "confidence", "team", "priority", "article"}
    assert [d["article"] for d in decided] == ["email-out-of-office", None, "backup-email-recovery", None, None]
