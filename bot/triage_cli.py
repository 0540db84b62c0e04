"""`itbot triage`: what the help desk would make of a message, as JSON (one object per message)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, TextIO

from workflows.routing import route_request
from workflows.triage import triage


def decide(text: str, config: dict[str, Any], threshold: float = 0.35) -> dict[str, Any]:
    result = triage(text, config["model"], config["kb"], answer_threshold=threshold)
    routed_intent = result.intent if result.intent in ("broken", "request") else "broken"
    route = route_request(routed_intent, result.topic, text, None, config["teams"], config["routing"])
    return {"intent": result.intent, "topic": result.topic, "confidence": round(result.confidence, 3),
            "team": route.team, "priority": route.priority if result.intent in ("broken", "request") else None,
            "article": result.article_id}


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
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise TriageInputError(f"{path}:{number}: each line needs a \"text\" string")
        rows.append((number, row["text"]))
    return rows
