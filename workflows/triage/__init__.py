"""Triage of a free-text IT message: what it is, what it is about, and an article that may answer it.

Pure and offline: a ``TriageModel`` (trained at start-up from config/triage.yaml) and a
``KnowledgeBase`` (config/kb/*.md, read through config/lexicon.yaml, answering as config/answers.yaml
says) are built once and passed in::

    model = TriageModel.from_config(config_dir)
    kb = KnowledgeBase.from_config(config_dir)
    result = triage("how do I set up my out of office?", model, kb)
    # TriageResult(intent='how_to', topic='email', confidence=0.9..., article_id='email-out-of-office',
    #              article_score=1.0, decision='answer', choices=())
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from workflows.triage.answers import ANSWER, CLARIFY, NONE, AnswerPolicy, Decision
from workflows.triage.classify import (
    INTENTS, TOPICS, Classification, TriageConfigError, TriageModel,
)
from workflows.triage.knowledge import Article, KnowledgeBase, KnowledgeBaseError, Match
from workflows.triage.lexicon import Lexicon
from workflows.triage.text import tokenize


@dataclass(frozen=True)
class TriageResult:
    """``decision`` is what the knowledge base can do for the message: ``answer`` with ``article_id``,
    ``clarify`` between the two ``choices`` (article ids), or ``none``. ``article_score`` is the best
    article's score (0.0 when none was looked up)."""

    intent: str
    topic: str
    confidence: float
    article_id: str | None = None
    article_score: float = 0.0
    decision: str = NONE
    choices: tuple[str, ...] = ()


# A problem that asks something ("... can I get them back?", "what should I do", "any way to fix it") wants an
# answer; a plain report ("my laptop won't turn on") wants a person. Matched on the message read through the
# lexicon, so "que faire ?" and "was kann ich tun" ask too.
_ASKS = re.compile(r"\?|\b(?:how|can i|could i|can you|is there|any way|anyway|anything i can|"
                   r"what (?:do|should|can|shall) i|what should i do|what to do|should i)\b")


def asks(text: str, model: TriageModel) -> bool:
    return bool(_ASKS.search(" ".join(model.lexicon.translate(tokenize(text)))))


def looks_up_articles(intent: str, topic: str, asking: bool = True) -> bool:
    """Questions, unclear messages and problems that ask for a way out (an article may solve them); not requests
    for something new (they need a person, often an approval) nor security incidents (Security, at once)."""
    return intent in ("how_to", "other") or (intent == "broken" and topic != "security" and asking)


def triage(text: str, model: TriageModel, kb: KnowledgeBase | None, *,
           policy: AnswerPolicy | None = None, answer_threshold: float | None = None) -> TriageResult:
    """``policy`` defaults to the knowledge base's (config/answers.yaml); ``answer_threshold`` overrides its
    global threshold (for experiments)."""
    found = model.classify(text)
    if kb is None or not looks_up_articles(found.intent, found.topic, found.intent != "broken" or asks(text, model)):
        return TriageResult(found.intent, found.topic, found.confidence)
    policy = policy or kb.policy or AnswerPolicy()
    if answer_threshold is not None:
        policy = AnswerPolicy(answer_threshold, policy.margin, policy.articles)
    decision = policy.decide(kb.rank(text, found.topic))
    return TriageResult(found.intent, found.topic, found.confidence, decision.article_id, decision.score,
                        decision.kind, tuple(a.id for a in decision.choices))


__all__ = [
    "ANSWER", "CLARIFY", "NONE", "INTENTS", "TOPICS", "AnswerPolicy", "Article", "Classification", "Decision",
    "KnowledgeBase", "KnowledgeBaseError", "Lexicon", "Match", "TriageConfigError", "TriageModel",
    "TriageResult", "asks", "looks_up_articles", "triage",
]
