"""The knowledge base: Markdown articles in config/kb/, and finding the one that answers a question.

Each article is a ``.md`` file that starts with YAML front matter between ``---`` lines::

    ---
    title: Reset a forgotten password yourself
    topics: [account]            # one or more triage topics
    keywords: [forgot password, sspr, reset password]
    team: helpdesk_l1            # who owns the article (a team id)
    id: password-reset           # optional; defaults to the file name without .md
    ---
    Markdown body...

``best_match`` scores every article by how much of the message's vocabulary (weighted by
rarity across the KB) its title and keywords cover, with a smaller credit for words found
only in the body and a bonus for whole keyword phrases; articles outside the message's topic
are discounted. Scores are in [0, 1].
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from workflows.config import ConfigError, Located, parse_yaml
from workflows.triage.classify import TOPICS, TriageConfigError
from workflows.triage.text import content_stems, correct, normalize, pad, tokenize

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TEAM = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = {"id", "title", "topics", "keywords", "team"}
_KEYWORD_CREDIT = 0.9      # a word in the keywords (not the title) counts this much of a title hit
_BODY_CREDIT = 0.4          # a word only in the body
_PHRASE_BONUS = 0.15        # per multi-word keyword found verbatim in the message
_OFF_TOPIC_FACTOR = 0.55    # articles not tagged with the message's topic


class KnowledgeBaseError(TriageConfigError):
    """An article under config/kb/ cannot be read or its front matter is invalid."""


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    topics: tuple[str, ...]
    keywords: tuple[str, ...]
    team: str
    body: str
    path: Path | None = None


@dataclass(frozen=True)
class Match:
    article: Article
    score: float


@dataclass(frozen=True)
class _Index:
    title: frozenset[str]                # stems of the title
    keywords: frozenset[str]             # stems of the keywords
    body: frozenset[str]                 # stems of the body
    phrases: tuple[str, ...]             # multi-word keywords, padded (text.pad)


class KnowledgeBase:
    def __init__(self, articles: list[Article]):
        self.articles = tuple(sorted(articles, key=lambda a: a.id))
        self._by_id = {a.id: a for a in self.articles}
        self._index = [_index(a) for a in self.articles]
        df = Counter(s for ix in self._index for s in ix.title | ix.keywords | ix.body)
        n = max(len(self.articles), 1)
        self._idf = {s: math.log(1 + n / c) for s, c in df.items()}
        self._unknown_idf = 0.3 * math.log(1 + n)  # words no article uses say little
        self._known = Counter(t for a in self.articles for t in _document_tokens(a))

    @classmethod
    def from_dir(cls, path: Path) -> "KnowledgeBase":
        path = Path(path)
        if not path.is_dir():
            raise KnowledgeBaseError(path, None, "knowledge base directory not found")
        articles: dict[str, Article] = {}
        for file in sorted(path.glob("*.md")):
            article = load_article(file)
            if article.id in articles:
                other = articles[article.id].path
                raise KnowledgeBaseError(file, None, f"duplicate article id {article.id!r} (also in {other})")
            articles[article.id] = article
        return cls(list(articles.values()))

    def __len__(self) -> int:
        return len(self.articles)

    def __iter__(self) -> Iterator[Article]:
        return iter(self.articles)

    def get(self, article_id: str) -> Article | None:
        return self._by_id.get(article_id)

    def best_match(self, text: str, topic: str | None = None) -> Match | None:
        """The article that best answers ``text``, or None when nothing overlaps at all."""
        tokens = correct(tokenize(text), self._known)
        query = set(content_stems(tokens))
        if not query or not self.articles:
            return None
        padded = f" {' '.join(tokens)} "
        weights = {s: self._idf.get(s, self._unknown_idf) for s in query}
        total = sum(weights.values())
        best: Match | None = None
        for article, ix in zip(self.articles, self._index):
            covered = sum(w * _credit(s, ix) for s, w in weights.items())
            phrases = sum(1 for p in ix.phrases if p in padded)
            score = min(1.0, covered / total + _PHRASE_BONUS * phrases)
            if topic and topic != "other" and topic not in article.topics:
                score *= _OFF_TOPIC_FACTOR
            if score > 0 and (best is None or score > best.score):
                best = Match(article, round(score, 4))
        return best


def _credit(stem: str, ix: _Index) -> float:
    if stem in ix.title:
        return 1.0
    if stem in ix.keywords:
        return _KEYWORD_CREDIT
    return _BODY_CREDIT if stem in ix.body else 0.0


def _document_tokens(article: Article) -> list[str]:
    return tokenize(" ".join((article.title, *article.keywords, article.body)), max_chars=None, max_tokens=None)


def _index(article: Article) -> _Index:
    keywords = {s for k in article.keywords for s in content_stems(tokenize(k))}
    phrases = tuple(pad(p) for p in (normalize(k) for k in article.keywords) if " " in p)
    return _Index(
        title=frozenset(content_stems(tokenize(article.title))),
        keywords=frozenset(keywords),
        body=frozenset(content_stems(tokenize(article.body, max_chars=None, max_tokens=None))),
        phrases=phrases,
    )


# --------------------------------------------------------------------------- loading

def load_article(path: Path) -> Article:
    """Read and validate one article; errors name the file, the field and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(path, None, f"cannot read: {exc}") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise KnowledgeBaseError(path, 1, "must start with front matter between '---' lines")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise KnowledgeBaseError(path, 1, "front matter is not closed by a '---' line")
    try:  # the leading newline keeps YAML line numbers equal to file line numbers
        meta = parse_yaml("\n" + "\n".join(lines[1:end]), path)
    except ConfigError as exc:
        raise KnowledgeBaseError(path, exc.line, exc.message) from None
    if not isinstance(meta, Located):
        raise KnowledgeBaseError(path, 2, "front matter must be a mapping (title:, topics:, keywords:, team:)")
    unknown = sorted(str(k) for k in meta if k not in _KEYS)
    if unknown:
        raise _fail(meta, unknown[0], path, f"unknown field (known: {', '.join(sorted(_KEYS))})")
    body = "\n".join(lines[end + 1:]).strip()
    if not body:
        raise KnowledgeBaseError(path, end + 1, "article body is empty")
    return Article(
        id=_field_id(meta, path),
        title=_field_text(meta, "title", path),
        topics=_field_topics(meta, path),
        keywords=_field_list(meta, "keywords", path),
        team=_field_team(meta, path),
        body=body,
        path=path,
    )


def _fail(meta: Located, key: str, path: Path, message: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(path, meta.line_of(key), f"field '{key}': {message}")


def _require(meta: Located, key: str, path: Path) -> Any:
    if key not in meta:
        raise KnowledgeBaseError(path, meta.line, f"field '{key}' is missing")
    return meta[key]


def _field_text(meta: Located, key: str, path: Path) -> str:
    value = _require(meta, key, path)
    if not isinstance(value, str) or not value.strip():
        raise _fail(meta, key, path, "must be a non-empty string")
    return value.strip()


def _field_list(meta: Located, key: str, path: Path) -> tuple[str, ...]:
    value = _require(meta, key, path)
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(meta, key, path, "must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _field_topics(meta: Located, path: Path) -> tuple[str, ...]:
    topics = _field_list(meta, "topics", path)
    if not topics:
        raise _fail(meta, "topics", path, "needs at least one topic")
    for topic in topics:
        if topic not in TOPICS:
            raise _fail(meta, "topics", path, f"unknown topic {topic!r} (known: {', '.join(TOPICS)})")
    return topics


def _field_team(meta: Located, path: Path) -> str:
    team = _field_text(meta, "team", path)
    if not _TEAM.match(team):
        raise _fail(meta, "team", path, f"{team!r} is not a team id (lower_snake_case, e.g. helpdesk_l1)")
    return team


def _field_id(meta: Located, path: Path) -> str:
    if "id" not in meta:
        article_id = path.stem
    else:
        article_id = meta["id"]
    if not isinstance(article_id, str) or not _ID.match(article_id):
        raise _fail(meta, "id", path, f"{article_id!r} is not a valid id (lower case letters, digits, '-' and '_')")
    return article_id
