"""Whether to answer from the knowledge base: answer, ask "did you mean A or B?", or say nothing.

The decision is calibrated, not a constant in code: config/answers.yaml holds the global ``threshold`` (the
score an article needs), the ``margin`` (how far ahead of the runner-up it must be to be answered alone) and,
per article, its own threshold. ``itbot kb calibrate DEV.jsonl`` computes the global values from labelled
questions (`{"text", "article"}`, ``"article": "none"`` for no article) so that IT can re-derive them after
changing the articles.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from workflows.config import ConfigError, load_optional_mapping, require_mapping

ANSWERS_FILE = "answers.yaml"
DEFAULT_THRESHOLD = 0.5     # used only when config/answers.yaml is absent
DEFAULT_MARGIN = 0.08
_KEYS = {"threshold", "margin", "articles"}

ANSWER, CLARIFY, NONE = "answer", "clarify", "none"


@dataclass(frozen=True)
class Decision:
    """``kind`` is answer (``article``), clarify (``choices``: the two close articles) or none."""

    kind: str
    article: Any = None                  # workflows.triage.knowledge.Article
    score: float = 0.0                   # the best article's score (0.0 when nothing matched)
    choices: tuple[Any, ...] = ()

    @property
    def article_id(self) -> str | None:
        return self.article.id if self.article is not None else None


@dataclass(frozen=True)
class AnswerPolicy:
    threshold: float = DEFAULT_THRESHOLD
    margin: float = DEFAULT_MARGIN
    articles: dict[str, float] = field(default_factory=dict)   # article id -> its own threshold

    def __post_init__(self) -> None:
        for name, value in (("threshold", self.threshold), ("margin", self.margin), *self.articles.items()):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value!r}")

    def threshold_for(self, article_id: str) -> float:
        return self.articles.get(article_id, self.threshold)

    def decide(self, ranked: list[Any]) -> Decision:
        """``ranked``: matches (``.article``, ``.score``), best first."""
        if not ranked:
            return Decision(NONE)
        top = ranked[0]
        if top.score < self.threshold_for(top.article.id):
            return Decision(NONE, score=top.score)
        runner = ranked[1] if len(ranked) > 1 else None
        if (runner is not None and runner.score >= self.threshold_for(runner.article.id)
                and top.score - runner.score < self.margin):
            return Decision(CLARIFY, score=top.score, choices=(top.article, runner.article))
        return Decision(ANSWER, top.article, top.score)

    @classmethod
    def from_config(cls, config_dir: Path, kb: Any = None) -> "AnswerPolicy":
        """config/answers.yaml (defaults when absent); per-article entries must name articles in ``kb``."""
        path = Path(config_dir) / ANSWERS_FILE
        data = load_optional_mapping(path, _KEYS)
        if data is None:
            return cls()
        threshold = _fraction(data, "threshold", path, DEFAULT_THRESHOLD)
        margin = _fraction(data, "margin", path, DEFAULT_MARGIN)
        articles = {}
        if "articles" in data:
            section = require_mapping(data["articles"], path, "articles (article id -> {threshold})")
            for article_id, entry in section.items():
                if kb is not None and kb.get(article_id) is None:
                    raise ConfigError(path, section.line_of(article_id), f"no article {article_id!r} in config/kb/")
                entry = require_mapping(entry, path, f"articles.{article_id}")
                unknown = set(entry) - {"threshold"}
                if unknown:
                    raise ConfigError(path, entry.line, f"unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                                                        f"(known: threshold)")
                articles[article_id] = _fraction(entry, "threshold", path, threshold)
        return cls(threshold, margin, articles)


def _fraction(data: Any, key: str, path: Path, default: float) -> float:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(path, data.line_of(key), f"{key} must be a number between 0 and 1")
    return float(value)


# --------------------------------------------------------------------------- scoring a labelled file

@dataclass(frozen=True)
class Outcome:
    text: str
    expected: str            # an article id or "none"
    decision: Decision

    @property
    def got(self) -> str:
        return self.decision.article_id or "none"

    @property
    def verdict(self) -> str:
        """right, wrong_article (answered with another article) or no_answer (said nothing, or asked)."""
        if self.got == self.expected:
            return "right"
        return "wrong_article" if self.decision.kind == ANSWER else "no_answer"


@dataclass(frozen=True)
class Score:
    outcomes: tuple[Outcome, ...]

    def count(self, verdict: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict == verdict)

    @property
    def total(self) -> int:
        return len(self.outcomes)

    def rate(self, verdict: str) -> float:
        return self.count(verdict) / self.total if self.total else 0.0

    @property
    def clarified(self) -> int:
        """Questions answered with "did you mean A or B?" (counted as no_answer), and of them, how many offered the
        right article among the two."""
        return sum(1 for o in self.outcomes if o.decision.kind == CLARIFY)

    @property
    def clarified_right(self) -> int:
        return sum(1 for o in self.outcomes if o.decision.kind == CLARIFY
                   and o.expected in {a.id for a in o.decision.choices})

    def as_dict(self) -> dict[str, Any]:
        return {"questions": self.total,
                **{v: {"count": self.count(v), "rate": round(self.rate(v), 4)}
                   for v in ("right", "wrong_article", "no_answer")},
                "clarified": self.clarified, "clarified_with_right_article": self.clarified_right}


def score(rows: Iterable[tuple[str, str]], decide: Any) -> Score:
    """``rows``: (text, expected article or "none"); ``decide(text)`` returns the Decision the bot would take."""
    return Score(tuple(Outcome(text, expected, decide(text)) for text, expected in rows))


# --------------------------------------------------------------------------- calibration

WRONG_COST = 2.0   # a confident wrong answer costs more than saying nothing: the employee is sent the wrong way


def calibrate(rows: Iterable[tuple[str, list[Any]]], *, articles: dict[str, float] | None = None) -> AnswerPolicy:
    """The global threshold and margin that make the most right decisions on labelled questions.

    ``rows``: (expected article id or "none", the ranked matches for the question, best first, empty when the
    bot would not look the question up). Each right decision counts 1 and each wrong answer costs
    ``WRONG_COST``; among equally good thresholds the middle of the best run is taken, so that the value is
    not balanced on one question's score.
    """
    rows = list(rows)
    scores = sorted({round(m.score, 4) for _, ranked in rows for m in ranked[:2]})
    cuts = sorted({0.0, *scores, 1.0})
    thresholds = [round((a + b) / 2, 4) for a, b in zip(cuts, cuts[1:])]
    best: tuple[float, float, float, list[float]] | None = None   # (value, plateau width, margin, the plateau)
    for margin in [m / 100 for m in range(0, 21)]:
        values = []
        for threshold in thresholds:
            policy = AnswerPolicy(threshold, margin, dict(articles or {}))
            right = wrong = 0
            for expected, ranked in rows:
                decision = policy.decide(ranked)
                got = decision.article_id or "none"
                right += got == expected
                wrong += decision.kind == ANSWER and got != expected
            values.append(right - WRONG_COST * wrong)
        top = max(values)
        plateau = _longest_run([i for i, v in enumerate(values) if v == top])
        width = cuts[plateau[-1] + 1] - cuts[plateau[0]]
        # ties go to the wider plateau: a setting that does not hinge on one question's score
        if best is None or (top, round(width, 4)) > (best[0], best[1]):
            best = (top, round(width, 4), margin, [thresholds[i] for i in plateau])
    assert best is not None
    _, _, margin, longest = best
    return AnswerPolicy(round((longest[0] + longest[-1]) / 2, 2), margin, dict(articles or {}))


def _longest_run(indexes: list[int]) -> list[int]:
    runs: list[list[int]] = []
    for i in indexes:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return max(runs, key=len)
