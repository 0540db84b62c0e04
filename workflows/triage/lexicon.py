"""Reading a message through config/lexicon.yaml: other languages' words and synonyms become the words
the knowledge base and triage know.

``Lexicon.translate(tokens)`` replaces, left to right and longest phrase first, every known variant with its
canonical words ("mot de passe oublie" -> "password forgot"); accents are folded first, so "oublié" and
"oublie" are one word. Pure and cheap: a dict look-up per token and phrase length.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from workflows.config import ConfigError, load_optional_mapping, require_mapping
from workflows.triage.text import tokenize

LEXICON_FILE = "lexicon.yaml"
_KEYS = {"synonyms", "stopwords"}


def fold(token: str) -> str:
    """"réinitialiser" -> "reinitialiser", "zurücksetzen" -> "zurucksetzen" (ASCII tokens are returned as they are)."""
    if token.isascii():
        return token
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)) or token


def words(text: str) -> tuple[str, ...]:
    """A phrase as the folded tokens a message would give."""
    return tuple(fold(t) for t in tokenize(text) if t != "?")


@dataclass(frozen=True)
class Lexicon:
    phrases: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    stopwords: frozenset[str] = frozenset()
    longest: int = 1

    @classmethod
    def build(cls, synonyms: Iterable[tuple[str, Iterable[str]]], stopwords: Iterable[str] = ()) -> "Lexicon":
        phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
        for canonical, variants in synonyms:
            target = words(canonical)
            phrases.setdefault(target, target)   # the canonical phrase stays whole ("docking station")
            for variant in variants:
                key = words(variant)
                if key and key != target:
                    phrases.setdefault(key, target)
        longest = max((len(k) for k in phrases), default=1)
        return cls(phrases, frozenset(fold(w) for w in stopwords), longest)

    @classmethod
    def from_config(cls, config_dir: Path) -> "Lexicon":
        """config/lexicon.yaml, or an empty lexicon when the file is absent."""
        path = Path(config_dir) / LEXICON_FILE
        data = load_optional_mapping(path, _KEYS)
        if data is None:
            return cls()
        synonyms = []
        if "synonyms" in data:
            section = require_mapping(data["synonyms"], path, "synonyms (word -> list of words meaning the same)")
            for canonical, variants in section.items():
                line = section.line_of(canonical)
                if not isinstance(canonical, str) or not words(canonical):
                    raise ConfigError(path, line, f"synonym key {canonical!r} must be words (quote yes, no, on, off)")
                if not isinstance(variants, list) or not all(isinstance(v, str) and words(v) for v in variants):
                    raise ConfigError(path, line, f"synonyms of {canonical!r} must be a list of words")
                synonyms.append((canonical, variants))
        stopwords = data.get("stopwords") or ""
        if not isinstance(stopwords, str):
            raise ConfigError(path, data.line_of("stopwords"), "stopwords must be words separated by spaces (>- block)")
        return cls.build(synonyms, stopwords.split())

    def translate(self, tokens: list[str]) -> list[str]:
        folded = [fold(t) for t in tokens]
        if not self.phrases:
            return folded
        out: list[str] = []
        i = 0
        while i < len(folded):
            for n in range(min(self.longest, len(folded) - i), 0, -1):
                target = self.phrases.get(tuple(folded[i:i + n]))
                if target is not None:
                    out.extend(target)
                    i += n
                    break
            else:
                out.append(folded[i])
                i += 1
        return out

    def vocabulary(self) -> set[str]:
        """The words a translated message can hold: the canonical words and the stop words. Spelling is corrected
        towards these only, after translation, so "peru" never becomes a foreign word ("perdu", read as "lost")."""
        return {w for target in self.phrases.values() for w in target} | set(self.stopwords)
