"""Knowledge gaps: the questions the knowledge base did not answer, grouped by meaning and by owning team.

Pure: plain ``AnswerRecord`` rows in, ``Gap`` clusters out. A question is read the way the KB ranking reads
it (``workflows.triage.text`` tokens, ``config/lexicon.yaml`` translation with accent folding, stop words of
both dropped, light stemming), so "Wie kann ich mein Passwort zurücksetzen?" and "how do I reset my password"
both become ``password reset``. Each question becomes a TF-IDF vector over those stems plus (at a lower
weight) their character trigrams, so "printers" and "printing" still meet. Questions are taken oldest first and
each joins the cluster of its team whose centroid it is most similar to (cosine at least ``SIMILARITY``), or
starts a new one: the same rows always give the same clusters.

The owning team is the one the help desk routes the question's intent and topic to
(``workflows.routing.route_request``).
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from workflows.models import AnswerRecord
from workflows.triage.lexicon import Lexicon
from workflows.triage.text import STOPWORDS, stem, tokenize

UNANSWERED = ("no_answer", "still_stuck", "clarify")  # a clarify still "clarify" was never settled by a choice
SIMILARITY = 0.45        # cosine between a question and a cluster's centroid to join it
GRAM_WEIGHT = 0.3        # a character trigram counts this much of a whole stem
MAX_EXAMPLES = 3         # other wordings kept per gap
UNROUTED = "unrouted"    # the team of a question whose intent/topic no longer routes


@dataclass(frozen=True)
class Gap:
    team: str
    question: str                 # the most typical wording (highest mean similarity to the others)
    count: int
    askers: int                   # distinct people
    last_asked: datetime | None
    examples: tuple[str, ...]     # other wordings, most recent first
    key: str                      # stable id of the gap: team + the representative's stems, hashed

    def as_dict(self) -> dict[str, Any]:
        return {"team": self.team, "question": self.question, "count": self.count, "askers": self.askers,
                "examples": list(self.examples),
                "last_asked": self.last_asked.isoformat() if self.last_asked else None, "key": self.key}


def terms(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """A question's subject words as the KB ranking reads them: translated, stop words dropped, stemmed."""
    lexicon = lexicon or Lexicon()
    words = lexicon.translate([t for t in tokenize(text) if t != "?"])
    return [stem(w) for w in words if w not in STOPWORDS and w not in lexicon.stopwords and w != "#"]


def _features(stems: Sequence[str]) -> Counter[str]:
    feats: Counter[str] = Counter(stems)
    for s in stems:
        padded = f"<{s}>"
        for i in range(len(padded) - 2):
            feats["~" + padded[i:i + 3]] += GRAM_WEIGHT
    return feats


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def _normalised(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else {}


def gap_key(team: str, stems: Iterable[str]) -> str:
    signature = team + ":" + " ".join(sorted(set(stems)))
    return hashlib.sha1(signature.encode("utf-8")).hexdigest()[:12]


class GapFinder:
    """Clusters unanswered questions; ``team_of(intent, topic, text)`` names the owning team."""

    def __init__(self, lexicon: Lexicon | None = None, team_of: Any = None, similarity: float = SIMILARITY):
        self.lexicon = lexicon or Lexicon()
        self.team_of = team_of or (lambda intent, topic, text: UNROUTED)
        self.similarity = similarity

    @classmethod
    def from_rules(cls, lexicon: Lexicon, teams: Any, rules: Any) -> "GapFinder":
        """Owning team as the help desk routes (``route_request``); a topic it no longer knows falls back to
        ``topic_teams`` and then to ``UNROUTED``."""
        from workflows.routing import route_request

        def team_of(intent: str, topic: str, text: str) -> str:
            try:
                return route_request(intent, topic, text, None, teams, rules).team
            except (ValueError, KeyError):
                return rules.topic_teams.get(topic, UNROUTED)
        return cls(lexicon, team_of)

    def find(self, answers: Iterable[AnswerRecord], *, team: str | None = None) -> list[Gap]:
        """Gaps among the unanswered ``answers`` (of ``team`` only, if given), biggest first."""
        rows = []
        for a in sorted(answers, key=lambda a: (a.at is None, a.at or datetime.min, a.id or 0)):
            if a.outcome not in UNANSWERED or not (a.question or "").strip():
                continue
            stems = terms(a.question, self.lexicon)
            if not stems:
                continue
            owner = self.team_of(a.intent, a.topic, a.question)
            if team is None or owner == team:
                rows.append((a, owner, stems))
        df = Counter(f for _, _, stems in rows for f in set(_features(stems)))
        n = len(rows)
        vectors = [_normalised({f: w * (math.log((1 + n) / (1 + df[f])) + 1) for f, w in _features(s).items()})
                   for _, _, s in rows]
        clusters: list[tuple[str, list[int], dict[str, float]]] = []  # team, members, centroid (sum)
        for i, (_, owner, _) in enumerate(rows):
            best, best_score = None, self.similarity
            for c, (c_team, _, centroid) in enumerate(clusters):
                if c_team == owner:
                    score = _cosine(vectors[i], centroid)
                    if score >= best_score and (best is None or score > best_score):
                        best, best_score = c, score
            if best is None:
                clusters.append((owner, [i], dict(vectors[i])))
            else:
                members, centroid = clusters[best][1], clusters[best][2]
                members.append(i)
                for k, v in vectors[i].items():
                    centroid[k] = centroid.get(k, 0.0) + v
        gaps = [self._gap(c_team, [rows[i] for i in members], [vectors[i] for i in members])
                for c_team, members, _ in clusters]
        return sorted(gaps, key=lambda g: (-g.count, -g.askers, g.team, g.question))

    def _gap(self, team: str, rows: list, vectors: list[dict[str, float]]) -> Gap:
        def typical(i: int) -> tuple:
            mean = sum(_cosine(vectors[i], v) for j, v in enumerate(vectors) if j != i) / max(len(vectors) - 1, 1)
            return (-round(mean, 9), len(rows[i][0].question), " ".join(rows[i][0].question.split()))
        rep = min(range(len(rows)), key=typical)
        question = " ".join(rows[rep][0].question.split())
        others: list[str] = []
        for a, _, _ in reversed(rows):
            wording = " ".join(a.question.split())
            if wording != question and wording not in others and len(others) < MAX_EXAMPLES:
                others.append(wording)
        dates = [a.at for a, _, _ in rows if a.at]
        return Gap(team=team, question=question, count=len(rows), askers=len({a.user_slack_id for a, _, _ in rows}),
                   last_asked=max(dates) if dates else None, examples=tuple(others),
                   key=gap_key(team, rows[rep][2]))

    def same_gap(self, question: str, gap: Gap) -> bool:
        """Whether ``question`` (e.g. one an article was already drafted for) asks what ``gap`` asks."""
        a, b = terms(question, self.lexicon), terms(gap.question, self.lexicon)
        if not a or not b:
            return False
        return _cosine(_normalised(dict(_features(a))), _normalised(dict(_features(b)))) >= self.similarity


# ------------------------------------------------------------------ offering gaps to their team (App Home)

GAP_WINDOW = timedelta(days=30)          # questions this recent make a gap on the Home tab
OFFER_AGAIN_AFTER = timedelta(days=7)    # a gap someone asked to draft is not offered again for a week
HOME_GAPS = 5                            # gaps shown per team on the Home tab
DRAFT_ACTION = "kb.gap_draft"            # the audit action recording "Draft an article" (subject: gap_subject)


def gap_subject(team: str) -> str:
    return f"kb_gap:{team}"


def parse_gap_value(value: str) -> tuple[str, str] | None:
    """A Draft button's ``"team:key"``; None for anything else (never trust a button's value)."""
    team, _, key = str(value).partition(":")
    if not team or len(team) > 64 or len(key) != 12 or not all(c in "0123456789abcdef" for c in key):
        return None
    return team, key


def drafted_recently(entries: Iterable[Any], now: datetime) -> list[tuple[str, str]]:
    """(key, question) of the audit entries (``DRAFT_ACTION``) of the last ``OFFER_AGAIN_AFTER``."""
    return [(str(e.detail.get("key", "")), str(e.detail.get("question", ""))) for e in entries
            if e.action == DRAFT_ACTION and e.at is not None and e.at >= now - OFFER_AGAIN_AFTER]


def offered(finder: GapFinder, answers: Iterable[AnswerRecord], team: str, drafted: Sequence[tuple[str, str]],
            limit: int = HOME_GAPS) -> list[Gap]:
    """The team's biggest gaps not drafted this week (same key, or the same question by meaning)."""
    fresh = [g for g in finder.find(answers, team=team)
             if not any(g.key == key or (question and finder.same_gap(question, g)) for key, question in drafted)]
    return fresh[:limit]
