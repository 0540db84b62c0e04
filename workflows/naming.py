"""Usernames from people's names: transliterated, within AD's limits, unique in the directory.

``generate_username(policy, name, exists)`` tries the policy's patterns in order (``{first}.{last}``,
``{f}{last}``, ``{first}.{last}{n}``, …) and returns the first candidate for which ``exists`` is
false. Names are transliterated to ASCII (José Núñez → jose.nunez, Ødegård → odegard, Cyrillic
and Greek by table); a name part that cannot be transliterated (Chinese, Arabic, …) makes every
pattern using it inapplicable, so the ``fallback_patterns`` (e.g. ``u{employee_id}``) are used:
never an empty or garbled name. The policy lives in ``config/naming.yaml``.
"""
from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from workflows.config import ConfigError, Located, load_yaml, require_mapping

SAM_MAX = 20
# sAMAccountName may not contain these; '@' and whitespace are refused too (UPN prefix, typing).
FORBIDDEN = set('"/\\[]:;|=,+*?<>@') | set(string.whitespace)
_FIELDS = {"first", "f", "last", "l", "n", "employee_id"}
_APOSTROPHES = "'’‘ʼʻ`´"
_DASHES = "‐‑‒–—"


class NamingError(ValueError):
    """No acceptable username (or UPN) can be made from what was given."""


# Letters NFKD does not reduce to ASCII, then Cyrillic (common English usage) and Greek (ELOT 743).
_TABLE = dict(item.partition("=")[::2] for item in """
ß=ss æ=ae œ=oe ø=o ł=l đ=d ð=d þ=th ı=i ħ=h ŋ=ng ŀ=l ĸ=k ſ=s ƒ=f ĳ=ij
а=a б=b в=v г=g д=d е=e ё=e ж=zh з=z и=i й=y к=k л=l м=m н=n о=o п=p р=r с=s т=t у=u ф=f
х=kh ц=ts ч=ch ш=sh щ=shch ъ= ы=y ь= э=e ю=yu я=ya і=i ї=yi є=ye ґ=g ў=u
ђ=dj ј=j љ=lj њ=nj ћ=c џ=dz ѓ=gj ќ=kj ѕ=dz
α=a β=v γ=g δ=d ε=e ζ=z η=i θ=th ι=i κ=k λ=l μ=m ν=n ξ=x ο=o π=p ρ=r σ=s ς=s τ=t υ=y
φ=f χ=ch ψ=ps ω=o
""".split())
_DIGRAPHS = {"ου": "ou"}   # Greek: matched on the letters without accents, unless υ has a diaeresis


@dataclass(frozen=True)
class PersonName:
    given_name: str
    surname: str
    preferred_given_name: str | None = None
    preferred_surname: str | None = None
    employee_id: str | None = None


@dataclass(frozen=True)
class NamingPolicy:
    patterns: tuple[str, ...] = ("{first}.{last}", "{f}{last}", "{first}.{last}{n}")
    fallback_patterns: tuple[str, ...] = ("u{employee_id}", "u{employee_id}-{n}")
    use_preferred_name: bool = True
    lowercase: bool = True
    max_length: int = SAM_MAX
    allowed_characters: str = "a-z0-9.-"
    hyphens: str = "keep"          # keep: smith-jones · join: smithjones · first: smith
    apostrophes: str = "drop"      # drop: obrien · keep: o'brien
    spaces: str = "join"           # join: vanderberg · first: van
    counter_start: int = 2
    max_counter: int = 99
    transliterate: dict[str, str] = field(default_factory=dict)

    def allowed(self) -> re.Pattern:
        flags = re.IGNORECASE if not self.lowercase else 0
        return re.compile(f"[{self.allowed_characters}]", flags)


# --- transliteration -----------------------------------------------------------------------------

def transliterate(text: str, extra: dict[str, str] | None = None) -> str | None:
    """ASCII for ``text`` keeping case, or None if a letter has no known Latin spelling."""
    table = {**_TABLE, **(extra or {})}
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    i = 0
    while i < len(text):
        pair = _bare(text[i:i + 2].lower())
        if pair in _DIGRAPHS:
            out.append(_cased(_DIGRAPHS[pair], text[i].isupper()))
            i += 2
            continue
        piece = _one(text[i], table)
        if piece is None:
            return None
        out.append(piece)
        i += 1
    result = "".join(out)
    return result.upper() if text.isupper() else result   # ЖУКОВ → ZHUKOV, not ZhUKOV


def _bare(text: str) -> str:
    """Letters without accents; a diaeresis is kept (it splits a Greek digraph: οϋ is o-y)."""
    return unicodedata.normalize("NFC", "".join(
        c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c) or c == "\u0308"))


def _cased(ascii_text: str, upper: bool) -> str:
    return ascii_text[:1].upper() + ascii_text[1:] if upper else ascii_text


def _one(char: str, table: dict[str, str]) -> str | None:
    if char in _APOSTROPHES:
        return "'"
    if char in _DASHES:
        return "-"
    if char.lower() in table:
        return _cased(table[char.lower()], char.isupper())
    out = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.combining(part):
            continue
        if part.lower() in table:
            out.append(_cased(table[part.lower()], part.isupper()))
        elif part.isascii():
            out.append(part)
        elif unicodedata.category(part)[0] in "LN":
            return None               # a letter or digit of a script we cannot spell
    return "".join(out)


# --- name parts ------------------------------------------------------------------------------------

def name_part(raw: str | None, policy: NamingPolicy) -> str | None:
    """One name (given or surname) as it may appear in a username, or None if unusable."""
    ascii_text = transliterate(raw.strip(), policy.transliterate) if raw and raw.strip() else None
    if ascii_text is None:
        return None
    if policy.lowercase:
        ascii_text = ascii_text.lower()
    words = ascii_text.split()
    if policy.spaces == "first":
        words = words[:1]
    text = "".join(words)
    if policy.hyphens == "first":
        text = next((p for p in text.split("-") if p.strip("'")), "")
    elif policy.hyphens == "join":
        text = text.replace("-", "")
    if policy.apostrophes == "drop":
        text = text.replace("'", "")
    allowed = policy.allowed()
    text = "".join(c for c in text if allowed.fullmatch(c) and c not in FORBIDDEN)
    text = re.sub(r"[.'-]{2,}", lambda m: m.group(0)[0], text).strip(".-'")
    return text or None


# --- candidates ------------------------------------------------------------------------------------

def _fields_of(pattern: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]


def _render(pattern: str, parts: dict[str, str], n: int | None, max_length: int) -> str | None:
    """Fill ``pattern``; if too long, shorten the surname, then the given name (never the counter)."""
    first, last = parts.get("first", ""), parts.get("last", "")
    while True:
        values = {**parts, "first": first, "last": last, "n": "" if n is None else str(n)}
        text = pattern.format(**values)
        if len(text) <= max_length:
            return text
        if len(last) > 1 and "last" in _fields_of(pattern):
            last = last[:-1].rstrip(".-'") or last[:1]
        elif len(first) > 1 and "first" in _fields_of(pattern):
            first = first[:-1].rstrip(".-'") or first[:1]
        else:
            return None


def _valid(candidate: str, policy: NamingPolicy) -> bool:
    allowed = policy.allowed()
    return (bool(candidate) and len(candidate) <= policy.max_length
            and all(allowed.fullmatch(c) and c not in FORBIDDEN for c in candidate)
            and not candidate.startswith((".", "-")) and not candidate.endswith(".")
            and ".." not in candidate)


def _pattern_candidates(pattern: str, parts: dict[str, str], policy: NamingPolicy) -> Iterator[str]:
    fields = _fields_of(pattern)
    if any(f != "n" and not parts.get(f) for f in fields):
        return                               # the pattern needs a part this person lacks
    counters = range(policy.counter_start, policy.max_counter + 1) if "n" in fields else [None]
    for n in counters:
        text = _render(pattern, parts, n, policy.max_length)
        if text is not None and _valid(text, policy):
            yield text


def candidates(policy: NamingPolicy, name: PersonName) -> Iterator[str]:
    """Every username the policy allows for ``name``, in the order they are tried (no repeats)."""
    given = name.preferred_given_name if policy.use_preferred_name and name.preferred_given_name else name.given_name
    surname = name.preferred_surname if policy.use_preferred_name and name.preferred_surname else name.surname
    first, last = name_part(given, policy), name_part(surname, policy)
    parts = {"first": first or "", "f": (first or "")[:1], "last": last or "", "l": (last or "")[:1],
             "employee_id": re.sub(r"[^A-Za-z0-9]", "", name.employee_id or "")}
    if policy.lowercase:
        parts["employee_id"] = parts["employee_id"].lower()
    seen: set[str] = set()
    for pattern in (*policy.patterns, *policy.fallback_patterns):
        for candidate in _pattern_candidates(pattern, parts, policy):
            if candidate.lower() not in seen:
                seen.add(candidate.lower())
                yield candidate


def generate_username(policy: NamingPolicy, name: PersonName, exists: Callable[[str], bool]) -> str:
    """The first candidate ``exists`` says is free; deterministic for the same directory state."""
    tried = 0
    for candidate in candidates(policy, name):
        tried += 1
        if not exists(candidate):
            return candidate
    who = f"{name.given_name} {name.surname}".strip()
    if not tried:
        raise NamingError(f"cannot make a username for {who!r}: the name has no Latin spelling and "
                          "no employee id is known for the fallback pattern")
    raise NamingError(f"every username the naming policy allows for {who!r} is taken ({tried} tried)")


# --- UPN -----------------------------------------------------------------------------------------

_UPN_LOCAL = re.compile(r"[A-Za-z0-9'._!#^~-]")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")


def upn_for(username: str, domain: str) -> str:
    """``username@domain`` under Entra's UPN rules: no accents; A-Z a-z 0-9 ' . - _ ! # ^ ~ only."""
    ascii_text = transliterate(username.strip()) or ""
    local = "".join(c for c in ascii_text if _UPN_LOCAL.fullmatch(c))
    local = re.sub(r"\.{2,}", ".", local).strip(".")
    if not local:
        raise NamingError(f"no UPN can be made from username {username!r}")
    if len(local) > 64:
        raise NamingError(f"UPN prefix {local!r} is longer than 64 characters")
    dom = domain.strip().lower()
    if not _DOMAIN.fullmatch(dom):
        raise NamingError(f"{domain!r} is not a domain name (e.g. example.com)")
    return f"{local}@{dom}"


# --- config/naming.yaml ------------------------------------------------------------------------------

_CHOICES = {"hyphens": ("keep", "join", "first"), "apostrophes": ("drop", "keep"), "spaces": ("join", "first")}


def load_naming(config_dir: Path | str) -> NamingPolicy:
    """The policy in ``config_dir/naming.yaml``; the defaults above when the file is absent."""
    path = Path(config_dir) / "naming.yaml"
    if not path.exists():
        return NamingPolicy()
    return parse_naming(require_mapping(load_yaml(path), path, "naming.yaml"), path)


def parse_naming(data: Located, path: Path | str = "naming.yaml") -> NamingPolicy:
    unknown = [k for k in data if k not in NamingPolicy.__dataclass_fields__]
    if unknown:
        known = ", ".join(sorted(NamingPolicy.__dataclass_fields__))
        raise ConfigError(path, data.line_of(unknown[0]), f"unknown key {unknown[0]!r} (known: {known})")
    values = {key: _read(key, data[key], path, data.line_of(key)) for key in data}
    policy = NamingPolicy(**values)
    _check(policy, data, path)
    return policy


def _read(key: str, value, path, line: int):
    default = NamingPolicy.__dataclass_fields__[key].default
    if key in ("patterns", "fallback_patterns"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(path, line, f"{key} must be a list of non-empty strings")
        return tuple(value)
    if key == "transliterate":
        value = value or {}
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and len(k) == 1 and isinstance(v, str) and v.isascii() for k, v in value.items()):
            raise ConfigError(path, line, "transliterate maps single characters to ASCII text, e.g. 'ü: ue'")
        return {k.lower(): v for k, v in value.items()}
    if type(value) is not type(default):
        raise ConfigError(path, line, f"{key} must be a {type(default).__name__}, got {value!r}")
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(path, line, f"{key} must be one of {', '.join(_CHOICES[key])}, got {value!r}")
    return value


def _check(policy: NamingPolicy, data: Located, path) -> None:
    def fail(key: str, message: str):
        raise ConfigError(path, data.line_of(key), message)

    if not policy.patterns:
        fail("patterns", "patterns must name at least one pattern")
    if not 1 <= policy.max_length <= SAM_MAX:
        fail("max_length", f"max_length must be 1..{SAM_MAX} (the sAMAccountName limit)")
    if not 0 <= policy.counter_start <= policy.max_counter:
        fail("counter_start", "counter_start must be 0 or more and not above max_counter")
    try:
        allowed = policy.allowed()
    except re.error as exc:
        fail("allowed_characters", f"allowed_characters is not a character class: {exc}")
    bad = sorted(c for c in FORBIDDEN if allowed.fullmatch(c))
    if bad:
        fail("allowed_characters", f"allowed_characters lets in characters sAMAccountName forbids: {bad}")
    for option, char, mode in (("hyphens", "-", "keep"), ("apostrophes", "'", "keep")):
        if getattr(policy, option) == mode and not allowed.fullmatch(char):
            fail(option, f"{option}: keep needs {char!r} in allowed_characters")
    for key in ("patterns", "fallback_patterns"):
        for pattern in getattr(policy, key):
            _check_pattern(pattern, allowed, lambda msg, key=key: fail(key, f"{pattern!r}: {msg}"))


def _check_pattern(pattern: str, allowed: re.Pattern, fail) -> None:
    try:
        pieces = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        fail(f"not a pattern ({exc})")
    fields = [f for _, f, spec, conv in pieces if f is not None]
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        fail(f"unknown placeholder {{{unknown[0]}}} (known: {', '.join(sorted(_FIELDS))})")
    if any(spec or conv for _, f, spec, conv in pieces if f is not None):
        fail("placeholders take no format spec or conversion")
    if fields.count("n") > 1 or not set(fields) - {"n"}:
        fail("use {n} at most once, with at least one name or {employee_id}")
    literal = "".join(text for text, *_ in pieces)
    if any(c in FORBIDDEN or not allowed.fullmatch(c) for c in literal):
        fail("its fixed text has characters outside allowed_characters")

