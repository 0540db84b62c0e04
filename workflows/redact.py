"""Keeping credentials out of Slack, logs and the audit trail.

``scrub_text`` masks anything that looks like a Slack token, a bearer token, a JWT or a
``password=`` pair; ``scrub`` walks a structure and also blanks values under secret-ish keys.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

MASK = "***"
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|credential|unicodepwd|authorization|api[_-]?key|temporaryaccesspass", re.I)
_PATTERNS = [
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"),          # Slack bot/user/config tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),                  # Slack app-level tokens
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),  # HTTP bearer credentials
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"(?i)\b(password|passwd|pwd|secret|client_secret)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"),
]


def scrub_text(text: str, known: Iterable[str] = ()) -> str:
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        else:
            text = pattern.sub(MASK, text)
    return text


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def scrub(value: Any, known: Iterable[str] = ()) -> Any:
    known = tuple(known)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_key(k) else scrub(v, known)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, known) for v in value]
    if isinstance(value, str):
        return scrub_text(value, known)
    return value
