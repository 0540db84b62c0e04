"""Block Kit from Jinja2 templates: one Environment, every value through tojson, user text escaped."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.ids import ActionId, BlockId, CallbackId, DigestActionId, RunActionId, RunCallbackId

TEMPLATES = Path(__file__).resolve().parent / "templates"
SECTION_LIMIT = 3000


def slack_escape(text: Any) -> str:
    """Escape the three characters Slack treats as markup in user-supplied text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: Any, limit: int = SECTION_LIMIT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["slack_escape"] = slack_escape
    env.filters["clip"] = clip
    env.globals.update(ActionId=ActionId, CallbackId=CallbackId, BlockId=BlockId, RunActionId=RunActionId,
                       RunCallbackId=RunCallbackId, DigestActionId=DigestActionId)
    return env


def render(name: str, **context: Any) -> Any:
    """Render ``<name>.json.j2`` and parse it: a list of blocks or a view dict."""
    text = environment().get_template(f"{name}.json.j2").render(**context)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {name} produced invalid JSON at line {exc.lineno}: {exc.msg}") from None
