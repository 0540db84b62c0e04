"""Approval cards speak to the people deciding: what will be done and for whom, in words, never an exception
name, a Python list or ``key=value`` arguments."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from bot.run_notify import approval_blocks
from workflows.models import Approval, Run
from workflows.plan_words import changes_summary, pending_change

DEVELOPER = ("NotFoundError", "Error)", "must_change", "=True", "['", "[\"", "change(s)", "groups=", "None")


def _text(blocks) -> str:
    parts = []
    for block in blocks:
        parts += [block.get("text", {}).get("text", "")] + [f["text"] for f in block.get("fields", [])]
    return "\n".join(parts)


def _clean(text: str) -> None:
    for word in DEVELOPER:
        assert word not in text, f"{word!r} on the card:\n{text}"


def test_a_run_approval_planned_before_the_account_exists_says_what_it_will_do(harness):
    """The sandbox directories answer NotFoundError when planning steps on an account not made yet."""
    from tests.bot.test_runs import HR, _hire, _posts, _submit

    _, calls = _submit(harness, HR, _hire(date.today() + timedelta(days=3)))
    [card] = _posts(calls, harness.services.run_policy.approvals_channel)
    text = _text(card.args["blocks"])
    _clean(text + card.args["text"])
    assert "9 account changes" in text
    assert "• Set a random initial password (to be changed at first sign-in) — once the steps before it have run" in text
    assert "• Add to the groups: All Staff, Sales, CRM Users — once the steps before it have run" in text
    assert "• Assign the licences: SPE_E3, POWER_BI_PRO — once the steps before it have run" in text


def test_changes_with_several_values_read_as_lists_of_names(harness):
    run = Run(kind="offboarding", person={"username": "tom.baker"}, requested_by="U0HR1", effective_date="2026-03-13",
              id=7)
    plan = {"steps": [
        {"step": "Remove from every group", "system": "Active Directory",
         "changes": [{"target": "tom.baker", "attribute": "memberOf", "old": ["All Staff", "Sales", "VPN Users"],
                      "new": []}]},
        {"step": "Remove licences", "system": "Entra ID",
         "changes": [{"target": "tom.baker", "attribute": "assignedLicenses", "old": ["SPE_E3"], "new": None}]},
        {"step": "Set the password", "system": "Active Directory",
         "note": pending_change("set_initial_credential", {"must_change": True})},
        {"step": "Update the profile", "system": "Entra ID",
         "note": pending_change("set_attributes", {"attributes": ["usage_location", "department"]})},
    ]}
    approval = Approval(subject="run:7", requested_by="U0HR1", plan=plan, run_id=7, id=3,
                        summary=changes_summary("offboarding", "tom.baker", 1))
    text = _text(approval_blocks(harness.services, run, approval))
    _clean(text)
    assert "• `memberOf`: All Staff, Sales, VPN Users → (none)" in text
    assert "• `assignedLicenses`: SPE_E3 → (none)" in text
    assert "Set a random initial password (to be changed at first sign-in)" in text
    assert "Update: usage location, department" in text
    assert "Offboarding of tom.baker: 1 account change\n" in text


@pytest.mark.parametrize("words, topic, kind, approving", [
    ("I need access to the Finance shared drive please", "access", "access", "giving them this access"),
    ("Please install Adobe Photoshop on my laptop, I need it for the campaign", "software", "new software",
     "installing this software, and its licence"),
])
def test_a_help_desk_approval_says_what_is_approved_in_the_requesters_words(harness, words, topic, kind, approving):
    mark = len(harness.fake.calls)
    harness.driver.dm("U0ANA", words)
    calls = harness.settle(after=mark)
    cards = [c for c in calls if c.method == "chat.postMessage" and c.args["text"].startswith("Approval needed")]
    assert len(cards) == 1, [c.args.get("text") for c in calls]
    text = _text(cards[0].args["blocks"])
    _clean(text)
    assert f"<@U0ANA> asks for *{kind}*, in their words:\n>{words}" in text
    assert f"*You are approving*\n{approving} for <@U0ANA>" in text
