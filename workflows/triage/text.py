"""Turning a Slack message into comparable tokens: shared by the classifier and the KB.

``normalize`` strips Slack markup (mentions, channel and link syntax, emoji codes),
bounds the work on very long input, folds case and apostrophes, and returns the
tokens joined by single spaces, so cue phrases can be matched as `` phrase `` inside
`` text ``. A question mark survives as its own token ``?``.
"""
from __future__ import annotations

import re
import unicodedata

# Work is bounded on both ends: raw characters looked at, and tokens kept.
MAX_CHARS = 4000
MAX_TOKENS = 200
MAX_TOKEN_CHARS = 40

_SLACK_LINK = re.compile(r"<(?:https?|mailto):[^<>|]{0,2000}\|([^<>]{0,300})>")
_SLACK_ANGLE = re.compile(r"<[^<>\s]{1,2000}>")
_URL = re.compile(r"https?://\S+")
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-]{1,40}:")
_APOSTROPHE = re.compile(r"(?<=\w)['’‘`](?=\w)")
_TOKEN = re.compile(r"[^\W_]+|\?")

# Spelling variants folded together before matching (applied per token).
_VARIANTS = {
    "licence": "license", "licences": "licenses", "licenced": "licensed",
    "pw": "password", "pwd": "password", "passwd": "password", "passwort": "password",
    "pls": "please", "plz": "please", "pleas": "please", "thx": "thanks", "ty": "thanks",
    "u": "you", "ur": "your",
}
_JOINS = (("wi fi", "wifi"), ("e mail", "email"), ("log in", "login"), ("sign in", "signin"),
          ("log on", "login"), ("sign on", "signin"), ("set up", "setup"), ("out of office", "ooo"))

STOPWORDS = frozenset(
    """a an the and or but if so of to in on at by for from with about into over as is are was
    were be been being am do does did doing have has had having i me my mine we us our you your
    he she it its they them their this that these those there here what which who whom when where
    why how can could would should will shall may might must just also very really too any some
    all no not please hi hello hey thanks thank get got getting need needs want wants like
    know let up out now still again today yesterday one ? s t ok okay way best quickest
    easiest quick easy able possible thing things""".split()
)


def strip_markup(text: str, max_chars: int | None = MAX_CHARS) -> str:
    """Remove Slack syntax, keeping a link's visible label; looks at ``max_chars`` at most."""
    text = text[:max_chars]
    text = _SLACK_LINK.sub(r" \1 ", text)
    text = _SLACK_ANGLE.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _EMOJI_CODE.sub(" ", text)
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


def tokenize(text: str, *, max_chars: int | None = MAX_CHARS, max_tokens: int | None = MAX_TOKENS) -> list[str]:
    """Raw text → normalised tokens, variants and phrases folded.

    The bounds suit chat messages (a 40,000-character paste costs the same as its
    opening); pass ``None`` for documents that must be read in full.
    """
    text = unicodedata.normalize("NFKC", strip_markup(text or "", max_chars)).casefold()
    text = _APOSTROPHE.sub("", text)
    tokens = []
    for match in _TOKEN.finditer(text):
        token = match.group()[:MAX_TOKEN_CHARS]
        tokens.append("#" if token.isdigit() else _VARIANTS.get(token, token))
        if max_tokens is not None and len(tokens) >= max_tokens:
            break
    joined = " ".join(tokens)
    for before, after in _JOINS:
        if before in joined:
            joined = re.sub(rf"\b{before}\b", after, joined)
    return joined.split()


def normalize(text: str) -> str:
    """Raw text → the canonical string that cue phrases and rules are matched against."""
    return " ".join(tokenize(text))


def stem(token: str) -> str:
    """A deliberately light suffix stripper: printers→printer, crashed→crash, phones→phon."""
    if len(token) <= 3 or not token.isascii():
        return token
    if token.endswith("ing") and len(token) > 5:
        token = token[:-3]
    elif token.endswith(("ies", "ied")) and len(token) > 4:
        token = token[:-3] + "y"
    elif token.endswith("ed") and len(token) > 4:
        token = token[:-2]
    elif token.endswith(("sses", "shes", "ches", "xes")):
        token = token[:-2]
    elif token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
    if token.endswith("e") and len(token) > 4:
        token = token[:-1]
    return token


def content_stems(tokens: list[str]) -> list[str]:
    """Stems of the tokens that carry a subject (stop words dropped)."""
    return [stem(t) for t in tokens if t not in STOPWORDS]


def pad(phrase: str) -> str:
    """A normalised phrase made ready for ``phrase in f" {normalised_text} "`` tests.

    Padding with spaces makes the test whole-word; phrases in scripts written without
    spaces between words (Chinese, Japanese, Thai) stay bare so they match inside a run.
    """
    return phrase if any(ord(c) >= 0x0E00 for c in phrase) else f" {phrase} "


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MAX_CORRECTIONS = 5  # per message, so a long paste of unknown words stays cheap


def _edits(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {left + right[1:] for left, right in splits if right}
    out.update(left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1)
    out.update(left + c + right[1:] for left, right in splits if right for c in _LETTERS)
    out.update(left + c + right for left, right in splits for c in _LETTERS)
    return out


def correct(tokens: list[str], known: dict[str, int]) -> list[str]:
    """Replace unknown words one edit away from a known word ("prnter" → "printer").

    ``known`` maps vocabulary words to how often they were seen; the most frequent
    candidate wins. Only plain ASCII words of 4 to 12 letters are touched.
    """
    out, budget = [], MAX_CORRECTIONS
    for token in tokens:
        if budget and token not in known and 4 <= len(token) <= 12 and token.isascii() and token.isalpha():
            budget -= 1
            candidates = [w for w in _edits(token) if w in known]
            if candidates:
                token = max(candidates, key=lambda w: (known[w], w))
        out.append(token)
    return out
