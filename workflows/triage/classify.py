"""Intent and topic of a free-text IT message, learned at start-up from config/triage.yaml.

Two multinomial naive Bayes models (one for intent, one for topic) are trained on the
labelled examples in the YAML, over word unigrams and bigrams (plus character n-grams for
topics, so typos still land). Their scores are length-tempered, then nudged by the
keyword cues from the same file, and turned into probabilities with a softmax. Finally
the YAML ``rules`` (regular expressions) can pin a label outright: that is how "a lost or
stolen device, or an attack, is broken/security however it is phrased" is enforced.

IT staff change behaviour by editing examples, cues and rules; no code changes needed.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from workflows.config import ConfigError, load_yaml, require_mapping
from workflows.triage.lexicon import Lexicon
from workflows.triage.text import STOPWORDS, correct, normalize, pad, stem, tokenize

INTENTS = ("how_to", "broken", "request", "other")
TOPICS = (
    "account", "mfa", "email", "vpn", "network", "printer", "hardware",
    "mobile", "software", "access", "backup", "security", "meetings", "other",
)
CONFIG_FILE = "triage.yaml"

_CLASSIFY_TOKENS = 80          # the opening of a message says what it is about
_CHAR_GRAM_WEIGHT = 0.08
_ALPHA = 1.0                   # Laplace smoothing
_RULE_CONFIDENCE = 0.95
_MIN_TOPIC_CONFIDENCE = 0.15       # below this the subject is unknown: topic "other"
_OFF_TOPIC_INTENT_CONFIDENCE = 0.75  # an off-topic message needs a clear ask to stay actionable
_TOP_KEYS = {"intent_cues", "topic_cues", "rules", "examples"}


class TriageConfigError(ConfigError):
    """config/triage.yaml (or a KB article) is missing or invalid; names the file and line."""


@dataclass(frozen=True)
class Classification:
    intent: str
    topic: str
    confidence: float
    intent_confidence: float
    topic_confidence: float


@dataclass(frozen=True)
class _Cue:
    label: str
    weight: float
    phrase: str = ""               # normalised and padded (text.pad) for whole-word matching
    regex: re.Pattern | None = None

    def matches(self, norm: str, padded: str) -> bool:
        return bool(self.regex.search(norm)) if self.regex else self.phrase in padded


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern
    intent: str | None
    topic: str | None


# --------------------------------------------------------------------------- features

def intent_features(tokens: list[str]) -> set[str]:
    stems = [stem(t) for t in tokens]
    feats = set(stems)
    feats.update(f"{a} {b}" for a, b in zip(stems, stems[1:]))
    if stems:
        feats.add(f"^{stems[0]}")
    if len(stems) > 1:
        feats.add(f"^{stems[0]} {stems[1]}")
    return feats


def topic_features(tokens: list[str]) -> set[str]:
    stems = [stem(t) for t in tokens if t not in STOPWORDS]
    feats = set(stems)
    feats.update(f"{a} {b}" for a, b in zip(stems, stems[1:]))
    for token in {t for t in tokens if len(t) >= 4 and t not in STOPWORDS}:
        padded = f"<{token}>"
        for n in (3, 4, 5):
            feats.update(f"#{padded[i:i + n]}" for i in range(len(padded) - n + 1))
    return feats


def _weight(feature: str) -> float:
    return _CHAR_GRAM_WEIGHT if feature.startswith("#") else 1.0


class _NaiveBayes:
    """Binary multinomial NB, uniform prior; ``scores`` returns length-tempered log-likelihoods."""

    def __init__(self, labels: tuple[str, ...], docs: Iterable[tuple[set[str], str]]):
        self.labels = labels
        self.index = {label: i for i, label in enumerate(labels)}
        counts = {label: Counter() for label in labels}
        for feats, label in docs:
            counts[label].update(feats)
        vocab = set().union(*counts.values())
        self.rows: dict[str, tuple[float, ...]] = {}
        totals = [sum(counts[label].values()) + _ALPHA * len(vocab) for label in labels]
        for feature in vocab:
            w = _weight(feature)
            self.rows[feature] = tuple(
                w * math.log((counts[label][feature] + _ALPHA) / total)
                for label, total in zip(labels, totals)
            )
        self.words = {f for f in vocab if not f.startswith(("#", "^")) and " " not in f}

    def scores(self, feats: set[str]) -> list[float]:
        known = [f for f in feats if f in self.rows]
        if not known:
            return [0.0] * len(self.labels)
        sums = [sum(column) for column in zip(*(self.rows[f] for f in known))]
        top, scale = max(sums), math.sqrt(sum(map(_weight, known)))
        return [(s - top) / scale for s in sums]


def _softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


# --------------------------------------------------------------------------- the model

class TriageModel:
    def __init__(self, examples: list[tuple[str, str, str]], intent_cues: list[_Cue],
                 topic_cues: list[_Cue], rules: list[_Rule], lexicon: Lexicon | None = None):
        self.lexicon = lexicon or Lexicon()
        self.intent_cues = intent_cues
        self.topic_cues = topic_cues
        self.rules = rules
        tokenized = [(tokenize(text, max_tokens=_CLASSIFY_TOKENS), intent, topic) for text, intent, topic in examples]
        self._known = Counter(t for tokens, _, _ in tokenized for t in tokens)
        self._known.update(t for cue in intent_cues + topic_cues for t in cue.phrase.split())
        self._known.update({w: 1 for w in self.lexicon.vocabulary() if w not in self._known})
        self._intent_nb = _NaiveBayes(INTENTS, ((intent_features(t), i) for t, i, _ in tokenized))
        self._topic_nb = _NaiveBayes(TOPICS, ((topic_features(t), p) for t, _, p in tokenized))

    @classmethod
    def from_config(cls, config_dir: Path) -> "TriageModel":
        path = Path(config_dir) / CONFIG_FILE
        try:
            lexicon = Lexicon.from_config(Path(config_dir))
            return _parse_config(require_mapping(load_yaml(path), path, CONFIG_FILE), path, lexicon)
        except TriageConfigError:
            raise
        except ConfigError as exc:
            raise TriageConfigError(exc.path, exc.line, exc.message) from None

    def classify(self, text: str) -> Classification:
        # read through config/lexicon.yaml: "comment réinitialiser mon mot de passe" -> "how do i reset mon password"
        tokens = correct(self.lexicon.translate(tokenize(text, max_tokens=_CLASSIFY_TOKENS)), self._known)
        if not [t for t in tokens if t != "?"]:
            return Classification("other", "other", 0.0, 0.0, 0.0)
        norm = " ".join(tokens)
        padded = f" {norm} "
        intent, intent_conf = self._decide(self._intent_nb, intent_features(tokens), self.intent_cues, norm, padded)
        topic, topic_conf = self._decide(self._topic_nb, topic_features(tokens), self.topic_cues, norm, padded)

        stems = {stem(t) for t in tokens if t not in STOPWORDS}
        # unfamiliar vocabulary (another language, jargon): be less sure of anything
        trust = 0.4 + 0.6 * len(stems & self._topic_nb.words) / len(stems) if stems else 1.0
        topic_conf *= trust
        if topic_conf < _MIN_TOPIC_CONFIDENCE:
            topic = "other"
        if topic == "other" and intent != "other" and intent_conf * trust < _OFF_TOPIC_INTENT_CONFIDENCE:
            # no IT subject and no clear ask: small talk or off-topic, and not sure of it
            intent, intent_conf = "other", 1.0 - intent_conf
        intent_conf *= trust

        pinned_intent = pinned_topic = False
        for rule in self.rules:
            if not rule.regex.search(norm):
                continue
            if rule.intent and not pinned_intent:
                intent, intent_conf, pinned_intent = rule.intent, max(intent_conf, _RULE_CONFIDENCE), True
            if rule.topic and not pinned_topic:
                topic, topic_conf, pinned_topic = rule.topic, max(topic_conf, _RULE_CONFIDENCE), True
        if intent == "other" and not pinned_topic:
            topic, topic_conf = "other", intent_conf
        intent_conf, topic_conf = round(intent_conf, 4), round(topic_conf, 4)
        return Classification(intent, topic, min(intent_conf, topic_conf), intent_conf, topic_conf)

    @staticmethod
    def _decide(nb: _NaiveBayes, feats: set[str], cues: list[_Cue], norm: str, padded: str) -> tuple[str, float]:
        logits = nb.scores(feats)
        for cue in cues:
            if cue.matches(norm, padded):
                logits[nb.index[cue.label]] += cue.weight
        probs = _softmax(logits)
        best = max(range(len(probs)), key=probs.__getitem__)
        return nb.labels[best], probs[best]


# --------------------------------------------------------------------------- config

def _parse_config(data: Any, path: Path, lexicon: Lexicon | None = None) -> TriageModel:
    for key in data:
        if key not in _TOP_KEYS:
            raise TriageConfigError(path, data.line_of(key), f"unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    if "examples" not in data:
        raise TriageConfigError(path, data.line, "missing 'examples' (topic -> intent -> list of messages)")
    intent_cues = _parse_cues(data["intent_cues"], INTENTS, "intent", path) if "intent_cues" in data else []
    topic_cues = _parse_cues(data["topic_cues"], TOPICS, "topic", path) if "topic_cues" in data else []
    rules = _parse_rules(data["rules"], path, data.line_of("rules")) if "rules" in data else []
    examples = _parse_examples(data["examples"], path)
    return TriageModel(examples, intent_cues, topic_cues, rules, lexicon)


def _check_label(label: Any, known: tuple[str, ...], kind: str, path: Path, line: int) -> str:
    if label not in known:
        raise TriageConfigError(path, line, f"unknown {kind} {label!r} (known: {', '.join(known)})")
    return label


def _compile(pattern: Any, path: Path, line: int) -> re.Pattern:
    if not isinstance(pattern, str) or not pattern.strip():
        raise TriageConfigError(path, line, "a pattern must be a non-empty string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise TriageConfigError(path, line, f"invalid regular expression {pattern!r}: {exc}") from None


def _parse_cues(section: Any, known: tuple[str, ...], kind: str, path: Path) -> list[_Cue]:
    section = require_mapping(section, path, f"{kind}_cues")
    cues = []
    for label, phrases in section.items():
        _check_label(label, known, kind, path, section.line_of(label))
        phrases = require_mapping(phrases, path, f"{kind}_cues.{label} (phrase: weight)")
        for phrase, weight in phrases.items():
            line = phrases.line_of(phrase)
            if not isinstance(phrase, str):
                raise TriageConfigError(path, line, f"cue {phrase!r} must be text (quote words like yes, no, on, off)")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not -10 <= weight <= 10:
                raise TriageConfigError(path, line, f"weight of cue {phrase!r} must be a number between -10 and 10")
            if phrase.startswith("re:"):
                cues.append(_Cue(label, float(weight), regex=_compile(phrase[3:].strip(), path, line)))
            else:
                norm = normalize(phrase)
                if not norm:
                    raise TriageConfigError(path, line, f"cue {phrase!r} has no words in it")
                cues.append(_Cue(label, float(weight), phrase=pad(norm)))
    return cues


def _parse_rules(rules: Any, path: Path, line: int) -> list[_Rule]:
    if not isinstance(rules, list):
        raise TriageConfigError(path, line, "rules must be a list of {name, pattern, intent?, topic?}")
    parsed = []
    for rule in rules:
        rule = require_mapping(rule, path, "each rule")
        unknown = set(rule) - {"name", "pattern", "intent", "topic"}
        if unknown:
            raise TriageConfigError(path, rule.line, f"unknown rule key(s): {', '.join(sorted(map(str, unknown)))}")
        if "pattern" not in rule or not ({"intent", "topic"} & rule.keys()):
            raise TriageConfigError(path, rule.line, "a rule needs a 'pattern' and an 'intent' and/or 'topic'")
        intent = rule.get("intent") and _check_label(rule["intent"], INTENTS, "intent", path, rule.line_of("intent"))
        topic = rule.get("topic") and _check_label(rule["topic"], TOPICS, "topic", path, rule.line_of("topic"))
        regex = _compile(rule["pattern"], path, rule.line_of("pattern"))
        parsed.append(_Rule(regex, intent, topic))
    return parsed


def _parse_examples(section: Any, path: Path) -> list[tuple[str, str, str]]:
    section = require_mapping(section, path, "examples")
    examples = []
    for topic, by_intent in section.items():
        _check_label(topic, TOPICS, "topic", path, section.line_of(topic))
        by_intent = require_mapping(by_intent, path, f"examples.{topic} (intent -> messages)")
        for intent, texts in by_intent.items():
            line = by_intent.line_of(intent)
            _check_label(intent, INTENTS, "intent", path, line)
            if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
                raise TriageConfigError(path, line, f"examples.{topic}.{intent} must be a list of non-empty strings"
                                                    " (quote words like yes, no, on, off and bare numbers)")
            examples.extend((text, intent, topic) for text in texts)
    seen_intents = {i for _, i, _ in examples}
    seen_topics = {t for _, _, t in examples}
    missing = [label for label in INTENTS if label not in seen_intents]
    missing += [label for label in TOPICS if label not in seen_topics]
    if missing:
        raise TriageConfigError(path, section.line, f"no examples for: {', '.join(missing)}")
    return examples
