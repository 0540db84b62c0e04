"""The knowledge base's answer decision: calibrated threshold and margin from config/answers.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest

from workflows.config import ConfigError
from workflows.triage import KnowledgeBase, TriageModel, triage
from workflows.triage.answers import ANSWER, CLARIFY, NONE, AnswerPolicy, calibrate, score
from workflows.triage.knowledge import Article, Match
from workflows.triage.lexicon import Lexicon

CONFIG = Path(__file__).resolve().parents[2] / "config"


def _article(article_id: str) -> Article:
    return Article(article_id, article_id.title(), ("other",), (), "helpdesk_l1", "body")


A, B, C = _article("a"), _article("b"), _article("c")


@pytest.mark.parametrize("ranked, kind, article", [
    ([], NONE, None),
    ([Match(A, 0.30)], NONE, None),                            # below the threshold
    ([Match(A, 0.60), Match(B, 0.30)], ANSWER, "a"),           # runner-up below its threshold
    ([Match(A, 0.60), Match(B, 0.45)], ANSWER, "a"),           # runner-up credible but far enough behind
    ([Match(A, 0.60), Match(B, 0.55)], CLARIFY, None),         # too close to call: ask
])
def test_the_decision_follows_threshold_and_margin(ranked, kind, article):
    decision = AnswerPolicy(threshold=0.4, margin=0.1).decide(ranked)
    assert (decision.kind, decision.article_id) == (kind, article)
    if kind == CLARIFY:
        assert [a.id for a in decision.choices] == ["a", "b"]


def test_an_article_can_have_its_own_threshold():
    policy = AnswerPolicy(threshold=0.4, margin=0.1, articles={"a": 0.7})
    assert policy.decide([Match(A, 0.6)]).kind == NONE
    assert policy.decide([Match(B, 0.6)]).kind == ANSWER
    # a runner-up that misses its own (higher) threshold does not make the bot ask
    assert policy.decide([Match(B, 0.6), Match(A, 0.58)]).article_id == "b"


def test_calibration_picks_values_that_separate_right_from_wrong():
    rows = [("a", [Match(A, 0.8), Match(B, 0.2)]), ("b", [Match(B, 0.6)]), ("c", [Match(C, 0.5), Match(A, 0.1)]),
            ("none", [Match(A, 0.2)]), ("none", [Match(B, 0.3)]),
            ("a", [Match(A, 0.7), Match(B, 0.68)])]          # too close: better asked than guessed
    policy = calibrate(rows)
    assert 0.3 < policy.threshold < 0.5
    decisions = [policy.decide(ranked) for _, ranked in rows]
    assert [d.article_id or "none" for d in decisions[:5]] == ["a", "b", "c", "none", "none"]


def test_the_shipped_policy_comes_from_config_not_code():
    kb = KnowledgeBase.from_config(CONFIG)
    text = (CONFIG / "answers.yaml").read_text()
    assert f"threshold: {kb.policy.threshold}" in text and f"margin: {kb.policy.margin}" in text


def test_answers_yaml_errors_name_the_line(tmp_path):
    (tmp_path / "answers.yaml").write_text("threshold: 2\n")
    with pytest.raises(ConfigError, match="answers.yaml:1: threshold must be a number between 0 and 1"):
        AnswerPolicy.from_config(tmp_path)
    (tmp_path / "answers.yaml").write_text("threshold: 0.4\narticles:\n  no-such-article: {threshold: 0.5}\n")
    with pytest.raises(ConfigError, match="answers.yaml:3: no article 'no-such-article'"):
        AnswerPolicy.from_config(tmp_path, KnowledgeBase.from_config(CONFIG))


def test_two_close_articles_make_triage_ask():
    model, kb = TriageModel.from_config(CONFIG), KnowledgeBase.from_config(CONFIG)
    ranked = kb.rank("how do I set up the vpn, it will not connect", "vpn", limit=2)
    assert {m.article.id for m in ranked} == {"vpn-setup", "vpn-troubleshooting"}
    wide = AnswerPolicy(kb.policy.threshold, margin=1.0)
    result = triage("how do I set up the vpn, it will not connect", model, kb, policy=wide)
    assert (result.decision, result.article_id) == (CLARIFY, None)
    assert set(result.choices) == {"vpn-setup", "vpn-troubleshooting"}


def test_scoring_a_labelled_file_counts_right_wrong_and_unanswered():
    policy = AnswerPolicy(0.4, 0.05)
    ranks = {"q1": [Match(A, 0.9)], "q2": [Match(B, 0.9)], "q3": [Match(A, 0.1)], "q4": [Match(A, 0.5), Match(B, 0.5)]}
    result = score([("q1", "a"), ("q2", "a"), ("q3", "a"), ("q4", "b")], lambda t: policy.decide(ranks[t]))
    assert (result.count("right"), result.count("wrong_article"), result.count("no_answer")) == (1, 1, 2)
    assert (result.clarified, result.clarified_right) == (1, 1)
    assert result.as_dict()["right"] == {"count": 1, "rate": 0.25}


def test_the_lexicon_reads_other_languages_as_the_articles_words():
    lexicon = Lexicon.build([("password", ["mot de passe", "contraseña"]), ("docking station", ["docking"])], "mon")
    assert lexicon.translate(["mon", "mot", "de", "passe"]) == ["mon", "password"]
    assert lexicon.translate(["contrasena"]) == ["password"]                       # accents folded
    assert lexicon.translate(["docking", "station"]) == ["docking", "station"]     # the canonical phrase stays whole
