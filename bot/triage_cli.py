"""`itbot triage`: what the help desk would make of a message, as JSON (one object per message)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, TextIO

from workflows.helpdesk import OFFER_FIRST_PRIORITIES, offers_article
from workflows.routing import route_request
from workflows.triage import ANSWER, CLARIFY, NONE, Decision, TriageResult, triage


def _triaged(text: str, config: dict[str, Any]) -> tuple[TriageResult, Any]:
    result = triage(text, config["model"], config["kb"])
    routed_intent = result.intent if result.intent in ("broken", "request") else "broken"
    return result, route_request(routed_intent, result.topic, text, None, config["teams"], config["routing"])


def bot_decision(text: str, config: dict[str, Any]) -> Decision:
    """What the bot would do with ``text`` from the knowledge base, as the help desk decides it: answer with an
    article, ask which of two, or neither (an urgent problem goes to a person whatever the articles say)."""
    result, route = _triaged(text, config)
    kb = config["kb"]
    if result.intent == "broken" and route.priority not in OFFER_FIRST_PRIORITIES:
        return Decision(NONE, score=result.article_score)
    if result.decision == CLARIFY:
        return Decision(CLARIFY, score=result.article_score, choices=tuple(kb.get(c) for c in result.choices))
    if offers_article(result, route.priority):
        return Decision(ANSWER, kb.get(result.article_id), result.article_score)
    return Decision(NONE, score=result.article_score)


def decide(text: str, config: dict[str, Any]) -> dict[str, Any]:
    """``article`` is the article the bot would answer with (None when it would not answer: no confident
    article, "did you mean A or B?", a request, or a problem too urgent to offer reading first)."""
    result, route = _triaged(text, config)
    return {"intent": result.intent, "topic": result.topic, "confidence": round(result.confidence, 3),
            "team": route.team, "priority": route.priority if result.intent in ("broken", "request") else None,
            "article": result.article_id if offers_article(result, route.priority) else None}


def run_triage(texts: list[str], jsonl: Path | None, config_dir: Path, out: TextIO | None = None) -> int:
    from connectors.services import load_helpdesk_config

    out = out or sys.stdout
    config = load_helpdesk_config(config_dir)
    if jsonl is None:
        print(json.dumps(decide(" ".join(texts), config), ensure_ascii=False), file=out)
        return 0
    for number, text in _read_jsonl(jsonl):
        print(json.dumps(decide(text, config), ensure_ascii=False), file=out)
    return 0


class TriageInputError(ValueError):
    pass


def _read_jsonl(path: Path) -> Iterable[tuple[int, str]]:
    return [(number, row["text"]) for number, row in read_rows(path, ("text",))]


def read_rows(path: Path, fields: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON line; each object must hold the string ``fields``."""
    try:
        # JSON Lines: lines end at "\n" only (a U+2028 inside a text is not a line break); a BOM is allowed
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except OSError as exc:
        raise TriageInputError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TriageInputError(f"{path}: not UTF-8 (byte {exc.start})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TriageInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not all(isinstance(row.get(f), str) for f in fields):
            names = " and ".join(f'"{f}"' for f in fields)
            what = f"{names} strings" if len(fields) > 1 else f"a {names} string"
            raise TriageInputError(f"{path}:{number}: each line needs {what}")
        rows.append((number, row))
    return rows
