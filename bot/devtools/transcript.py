"""Renders Slack messages for a terminal: mentions as @names, blocks as text, buttons in brackets."""
from __future__ import annotations

import re
import textwrap
from typing import Any, Callable

_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")


def plain(text: str, name_of: Callable[[str], str]) -> str:
    text = _MENTION.sub(lambda m: "@" + name_of(m.group(1)), text)
    text = _LINK.sub(lambda m: m.group(2), text)
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind in ("section", "header"):
        lines = [block["text"]["text"]] if block.get("text") else []
        if block.get("fields"):
            lines.append(" · ".join(f["text"].replace("*", "").replace("\n", ": ") for f in block["fields"]))
        if block.get("accessory", {}).get("type") == "button":
            lines.append(f"[{block['accessory']['text']['text']}]")
        return lines
    if kind == "context":
        return [" · ".join(e.get("text", "") for e in block.get("elements", []))]
    if kind == "actions":
        return ["  ".join(f"[{e['text']['text']}]" for e in block.get("elements", []) if e.get("type") == "button")]
    if kind == "divider":
        return ["─" * 20]
    return []


def render(message: dict[str, Any], name_of: Callable[[str], str], width: int = 96) -> str:
    lines = [line for b in message.get("blocks") or [] for line in _block_lines(b)] or [message.get("text", "")]
    out = []
    for line in lines:
        for part in plain(line, name_of).splitlines() or [""]:
            out.extend(textwrap.wrap(part, width) or [""])
    return "\n".join(out)
