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

``rank`` scores every article by how much of the message's vocabulary (weighted by rarity
across the KB, read through config/lexicon.yaml) its title and keywords cover, with a smaller
credit for words found only in the body and a bonus for whole keyword phrases; articles outside
the message's topic are discounted. Scores are in [0, 1]. Whether a score is enough to answer is
``workflows.triage.answers.AnswerPolicy``'s decision (config/answers.yaml).
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
from workflows.triage.lexicon import Lexicon, fold
from workflows.triage.text import STOPWORDS, correct, pad, stem, tokenize

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TEAM = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = {"id", "title", "topics", "keywords", "team"}
_KEYWORD_CREDIT = 0.9      # a word in the keywords (not the title) counts this much of a title hit
_BODY_CREDIT = 0.3          # a word only in the body
_PHRASE_BONUS = 0.15        # per multi-word keyword found verbatim in the message
_OFF_TOPIC_FACTOR = 0.7     # articles not tagged with the message's topic
_UNKNOWN_WEIGHT = 0.6      # a word no article uses weighs this share of the rarest word's weight
_FUZZY_MIN = 0.6            # trigram similarity for a misspelt or inflected word to count as a known one
_FUZZY_MIN_LEN = 5


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


def _trigrams(word: str) -> set[str]:
    padded = f"<{word}>"
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


class KnowledgeBase:
    """The articles, and how well each answers a message.

    A message and every article are read the same way: tokens, spelling corrected against the KB's words,
    read through the lexicon (other languages and synonyms -> the articles' words), stop words dropped,
    lightly stemmed. An article's score is the share of the message's (IDF-weighted) words it covers, title
    words fully, keywords at 0.9 and body words at 0.4, plus a bonus per keyword phrase; a word no article
    uses still weighs in the total (so an off-topic question scores low), and a word that is not in any
    article but close to one by character trigrams (a typo, an inflection) counts as that word, in proportion.
    """

    def __init__(self, articles: list[Article], lexicon: Lexicon | None = None, policy: Any = None):
        self.lexicon = lexicon or Lexicon()
        self.policy = policy
        self.articles = tuple(sorted(articles, key=lambda a: a.id))
        self._by_id = {a.id: a for a in self.articles}
        self._known = Counter(t for a in self.articles for t in self.lexicon.translate(_document_tokens(a)))
        self._known.update({w: 1 for w in self.lexicon.vocabulary() if w not in self._known})
        self._index = [self._article_index(a) for a in self.articles]
        df = Counter(s for ix in self._index for s in ix.title | ix.keywords | ix.body)
        n = max(len(self.articles), 1)
        self._idf = {s: math.log(1 + n / c) for s, c in df.items()}
        self._unknown_idf = _UNKNOWN_WEIGHT * math.log(1 + n)
        self._grams: dict[str, set[str]] = {}
        for stem_ in df:
            if len(stem_) >= _FUZZY_MIN_LEN - 1:
                for gram in _trigrams(stem_):
                    self._grams.setdefault(gram, set()).add(stem_)

    @classmethod
    def from_dir(cls, path: Path, lexicon: Lexicon | None = None, policy: Any = None) -> "KnowledgeBase":
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
        return cls(list(articles.values()), lexicon, policy)

    @classmethod
    def from_config(cls, config_dir: Path) -> "KnowledgeBase":
        """config/kb/*.md read through config/lexicon.yaml, answering as config/answers.yaml says."""
        from workflows.triage.answers import AnswerPolicy

        config_dir = Path(config_dir)
        kb = cls.from_dir(config_dir / "kb", Lexicon.from_config(config_dir))
        kb.policy = AnswerPolicy.from_config(config_dir, kb)
        return kb

    def __len__(self) -> int:
        return len(self.articles)

    def __iter__(self) -> Iterator[Article]:
        return iter(self.articles)

    def get(self, article_id: str) -> Article | None:
        return self._by_id.get(article_id)

    def best_match(self, text: str, topic: str | None = None) -> Match | None:
        """The article that best answers ``text``, or None when nothing overlaps at all."""
        ranked = self.rank(text, topic, limit=1)
        return ranked[0] if ranked else None

    def rank(self, text: str, topic: str | None = None, *, limit: int = 3) -> list[Match]:
        """The ``limit`` best articles for ``text``, best first (only those scoring above 0)."""
        tokens = self._read(text, spell=True)
        query = set(self._stems(tokens))
        if not query or not self.articles:
            return []
        padded = f" {' '.join(tokens)} "
        weights, aliases = {}, {}
        for s in query:
            if s in self._idf:
                weights[s] = self._idf[s]
                continue
            weights[s] = self._unknown_idf
            near = self._nearest(s)
            if near:
                aliases[s] = near
        total = sum(weights.values())
        scored = []
        for article, ix in zip(self.articles, self._index):
            covered = 0.0
            for s, w in weights.items():
                credit = _credit(s, ix)
                if not credit and s in aliases:
                    similar, similarity = aliases[s]
                    credit = similarity * _credit(similar, ix)
                covered += w * credit
            phrases = sum(1 for p in ix.phrases if p in padded)
            score = min(1.0, covered / total + _PHRASE_BONUS * phrases)
            if topic and topic != "other" and topic not in article.topics:
                score *= _OFF_TOPIC_FACTOR
            if score > 0:
                scored.append(Match(article, round(score, 4)))
        scored.sort(key=lambda m: (-m.score, m.article.id))
        return scored[:limit]

    def _read(self, text: str, *, spell: bool = False, **bounds: Any) -> list[str]:
        """Tokens as matching sees them; ``spell`` corrects a message's typos against the KB's words."""
        tokens = self.lexicon.translate(tokenize(text, **bounds))
        return correct(tokens, self._known) if spell else tokens

    def _stems(self, tokens: list[str]) -> list[str]:
        stop = self.lexicon.stopwords
        return [stem(t) for t in tokens if t not in STOPWORDS and t not in stop]

    def _nearest(self, word: str) -> tuple[str, float] | None:
        """The KB word closest to ``word`` by trigram Dice similarity, when close enough."""
        if len(word) < _FUZZY_MIN_LEN:
            return None
        grams = _trigrams(word)
        shared: Counter = Counter()
        for gram in grams:
            shared.update(self._grams.get(gram, ()))
        best, best_sim = None, 0.0
        for candidate, common in shared.items():
            similarity = 2 * common / (len(grams) + len(_trigrams(candidate)))
            if similarity > best_sim or (similarity == best_sim and best is not None and candidate < best):
                best, best_sim = candidate, similarity
        return (best, round(best_sim, 3)) if best is not None and best_sim >= _FUZZY_MIN else None

    def _article_index(self, article: Article) -> _Index:
        keywords = {s for k in article.keywords for s in self._stems(self._read(k))}
        phrases = tuple(pad(p) for p in (" ".join(self._read(k)) for k in article.keywords) if " " in p)
        return _Index(
            title=frozenset(self._stems(self._read(article.title))),
            keywords=frozenset(keywords),
            body=frozenset(self._stems(self._read(article.body, max_chars=None, max_tokens=None))),
            phrases=phrases,
        )


def _credit(stem_: str, ix: _Index) -> float:
    if stem_ in ix.title:
        return 1.0
    if stem_ in ix.keywords:
        return _KEYWORD_CREDIT
    return _BODY_CREDIT if stem_ in ix.body else 0.0


def _document_tokens(article: Article) -> list[str]:
    return tokenize(" ".join((article.title, *article.keywords, article.body)), max_chars=None, max_tokens=None)


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
