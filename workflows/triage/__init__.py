"""Triage of a free-text IT message: what it is, what it is about, and an article that may answer it.

Pure and offline: a ``TriageModel`` (trained at start-up from config/triage.yaml) and a
``KnowledgeBase`` (config/kb/*.md) are built once and passed in::

    model = TriageModel.from_config(config_dir)
    kb = KnowledgeBase.from_dir(config_dir / "kb")
    result = triage("how do I set up my out of office?", model, kb)
    # TriageResult(intent='how_to', topic='email', confidence=0.9...,
    #              article_id='email-out-of-office', article_score=1.0)
"""
from __future__ import annotations

from dataclasses import dataclass

from workflows.triage.classify import (
    INTENTS, TOPICS, Classification, TriageConfigError, TriageModel,
)
from workflows.triage.knowledge import Article, KnowledgeBase, KnowledgeBaseError, Match

DEFAULT_ANSWER_THRESHOLD = 0.35


@dataclass(frozen=True)
class TriageResult:
    """``article_id`` is set only for a how-to question whose best article scored at least the
    threshold; ``article_score`` is that best article's score (0.0 when none was looked up)."""

    intent: str
    topic: str
    confidence: float
    article_id: str | None = None
    article_score: float = 0.0


def triage(text: str, model: TriageModel, kb: KnowledgeBase | None, *,
           answer_threshold: float = DEFAULT_ANSWER_THRESHOLD) -> TriageResult:
    if not 0.0 <= answer_threshold <= 1.0:
        raise ValueError(f"answer_threshold must be between 0 and 1, not {answer_threshold!r}")
    found = model.classify(text)
    article_id, score = None, 0.0
    if found.intent == "how_to" and kb is not None:
        match = kb.best_match(text, found.topic)
        if match is not None:
            score = match.score
            if score >= answer_threshold:
                article_id = match.article.id
    return TriageResult(found.intent, found.topic, found.confidence, article_id, score)


__all__ = [
    "DEFAULT_ANSWER_THRESHOLD", "INTENTS", "TOPICS", "Article", "Classification",
    "KnowledgeBase", "KnowledgeBaseError", "Match", "TriageConfigError", "TriageModel",
    "TriageResult", "triage",
]
