"""`itbot chat`: talk to the real app from a terminal, through the same path as the demo.

Each line you type is sent as a signed DM event from "you"; itbot's replies come back through
the local fake Slack and are printed. Buttons are listed with numbers: type `/click N`.
"""
from __future__ import annotations

import sys
from typing import TextIO

from bot.devtools.harness import Harness
from bot.devtools.transcript import render
from bot.logs import configure_logging

ME = "U0YOU"


def _buttons(calls) -> list[tuple[str, str, str, str]]:
    found = []
    for call in calls:
        if call.method not in ("chat.postMessage", "chat.update") or not call.response.get("ok"):
            continue
        for block in call.args.get("blocks") or []:
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
            for e in elements:
                if e.get("type") == "button":
                    found.append((e["text"]["text"], e["action_id"], e.get("value", ""), call.response.get("channel", "")))
    return found


def run_chat(stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    stdin, out = stdin or sys.stdin, out or sys.stdout
    configure_logging("ERROR", "text")
    people = {ME: ("You", "Europe/London")}
    with Harness(people=people) as h:
        print("itbot chat: you are talking to the real app through a local fake Slack (no network).\n"
              "Type a message; /click N presses a button; /quit or Ctrl-D leaves.", file=out)
        buttons: list[tuple[str, str, str, str]] = []
        for line in stdin:
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            mark = len(h.fake.calls)
            if text.startswith("/click"):
                try:
                    label, action_id, value, channel = buttons[int(text.split()[1]) - 1]
                except (IndexError, ValueError):
                    print("  (no such button)", file=out)
                    continue
                h.driver.click(ME, action_id, value, channel=channel)
            else:
                h.driver.dm(ME, text)
            calls = h.settle(after=mark)
            for call in calls:
                if call.method in ("chat.postMessage", "chat.update") and call.response.get("ok"):
                    print(f"itbot: {render(call.args, h.name_of)}", file=out)
            buttons = _buttons(calls) or buttons
            for i, (label, *_rest) in enumerate(_buttons(calls), 1):
                print(f"  /click {i} → {label}", file=out)
    return 0
