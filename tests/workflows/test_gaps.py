"""Knowledge gaps: unanswered questions grouped by meaning (read through the lexicon) and by owning team."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from workflows.gaps import GapFinder, terms
from workflows.models import AnswerRecord
from workflows.routing import load_routing
from workflows.teams import load_teams
from workflows.triage.lexicon import Lexicon

CONFIG = Path(__file__).resolve().parents[2] / "config"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def finder():
    teams = load_teams(CONFIG)
    return GapFinder.from_rules(Lexicon.from_config(CONFIG), teams, load_routing(CONFIG, teams))


def rows(*questions, outcome="no_answer"):
    """(question, topic[, user]) → answer_log rows an hour apart, in that order."""
    out = []
    for i, q in enumerate(questions):
        text, topic, *user = q if isinstance(q, tuple) else (q, "account")
        out.append(AnswerRecord(user_slack_id=user[0] if user else f"U{i}", question=text, intent="how_to",
                                topic=topic, outcome=outcome, id=i + 1, at=T0 + timedelta(hours=i)))
    return out


def test_paraphrases_land_together_and_other_subjects_apart(finder):
    gaps = finder.find(rows("How do I reset my password?", "password reset pls", "reset my pwd",
                            ("the printer on floor 3 is jammed", "printer"), ("printers jamming again", "printer")))
    assert [(g.team, g.count) for g in gaps] == [("helpdesk_l1", 3), ("helpdesk_l1", 2)]
    assert "password" in gaps[0].question.lower() or "pwd" in gaps[0].question
    assert "printer" in gaps[1].question


def test_a_german_and_an_english_phrasing_of_one_question_are_one_gap(finder):
    assert terms("Wie kann ich mein Passwort zurücksetzen?", finder.lexicon) == ["password", "reset"]
    [gap] = finder.find(rows("Wie kann ich mein Passwort zurücksetzen?", "How do I reset my password?",
                             "Comment réinitialiser mon mot de passe ?"))
    assert gap.count == 3 and gap.askers == 3 and len(gap.examples) == 2


def test_the_owning_team_is_the_one_the_help_desk_routes_to(finder):
    gaps = finder.find(rows(("wifi in the lobby keeps dropping", "network"), ("wifi in the lobby drops", "network"),
                            ("How do I reset my password?", "account")))
    assert [(g.team, g.count) for g in gaps] == [("msp", 2), ("helpdesk_l1", 1)]
    assert [g.team for g in finder.find(rows(("wifi in the lobby", "network")), team="helpdesk_l1")] == []


def test_only_unanswered_outcomes_count_and_a_gap_counts_askers_and_the_last_date(finder):
    answered = rows("How do I reset my password?", outcome="solved")
    asked = rows(("reset password", "account", "U0A"), ("password reset", "account", "U0A"),
                 ("how to reset my password", "account", "U0B"), outcome="still_stuck")
    [gap] = finder.find(answered + asked)
    assert gap.count == 3 and gap.askers == 2 and gap.last_asked == T0 + timedelta(hours=2)
    assert finder.find(rows("How do I reset my password?", outcome="answered")) == []


def test_clusters_are_deterministic(finder):
    questions = rows("How do I reset my password?", "password reset pls", ("printer jammed", "printer"),
                     "Passwort vergessen", ("printers jamming again", "printer"), "reset my pwd")
    first = finder.find(questions)
    assert finder.find(list(reversed(questions))) == first
    assert [g.key for g in first] == [g.key for g in finder.find(questions)]


def test_same_gap_recognises_a_drafted_question(finder):
    [gap] = finder.find(rows("How do I reset my password?", "reset my pwd"))
    assert finder.same_gap("Passwort zurücksetzen", gap)
    assert not finder.same_gap("printer jammed", gap)
