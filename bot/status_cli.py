"""`itbot status`: the worker's queue, from the store (text, or --json with stable keys)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Sequence, TextIO

# What a waiting step's required step is doing, in words (its status in the store).
WAITING_ON = {"task": "a person's task", "awaiting_approval": "a step awaiting approval",
              "pending": "a step not yet run", "running": "a step being run", "denied": "a denied step"}


def add_status_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return parser


def run_status(args: argparse.Namespace | Sequence[str], out: TextIO | None = None, *, settings: Any = None,
               now: datetime | None = None) -> int:
    out = out or sys.stdout
    if not isinstance(args, argparse.Namespace):
        args = add_status_arguments(argparse.ArgumentParser(prog="itbot status")).parse_args(list(args))
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    from bot.settings import Settings
    from connectors.store import build_store

    settings = settings or Settings.from_env(require_slack=False)
    store = build_store(settings.database_url)
    try:
        status, backlog = store.queue_status(now), store.outbox.backlog(now)
    finally:
        store.close()
    print(json.dumps(status_dict(status, now, backlog), indent=2) if args.json else render_status(status, now, backlog),
          file=out)
    return 0


def status_dict(status: Any, now: datetime, backlog: Any = None) -> dict[str, Any]:
    data = asdict(status)
    oldest = status.oldest_due_at
    data["oldest_due_at"] = oldest.isoformat() if oldest else None
    data["oldest_due_seconds"] = int((now - oldest).total_seconds()) if oldest else None
    outbox = None
    if backlog is not None:
        age = backlog.oldest_pending_seconds
        outbox = {"pending": backlog.pending, "sending": backlog.sending, "failed": backlog.failed,
                  "oldest_pending_seconds": int(age) if age is not None else None}
    return {"at": now.isoformat(), "steps": data, "outbox": outbox}


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def render_status(status: Any, now: datetime, backlog: Any = None) -> str:
    oldest = f"   oldest due for {_age((now - status.oldest_due_at).total_seconds())}" if status.oldest_due_at else ""
    urgent = f"   ({status.urgent_due} terminate-now)" if status.urgent_due else ""
    rows = [("due now", status.due, urgent + oldest),
            ("running", status.running, ""),
            ("running, lease expired", status.expired_leases, "   (a worker stopped: taken again)"
             if status.expired_leases else ""),
            ("awaiting approval", status.awaiting_approval, ""),
            ("waiting on another step", sum(status.waiting.values()), "")]
    rows += [(f"  on {WAITING_ON.get(key, key)}", count, "") for key, count in status.waiting.items()]
    rows += [("open tasks (people)", status.open_tasks, ""),
             ("scheduled, not yet due", status.scheduled, "")]
    lines = [f"itbot queue at {now:%Y-%m-%d %H:%M} UTC: {status.live_runs} live run(s)", "", "steps"]
    lines += [f"  {label:<28}{count:>7}{extra}" for label, count, extra in rows]
    if backlog is not None:
        oldest = (f"   oldest waiting for {_age(backlog.oldest_pending_seconds)}"
                  if backlog.oldest_pending_seconds is not None else "")
        lines += ["", "outbox (messages to people)",
                  f"  {'to send':<28}{backlog.pending:>7}{oldest}",
                  f"  {'being sent':<28}{backlog.sending:>7}",
                  f"  {'failed (see the logs)':<28}{backlog.failed:>7}"]
    return "\n".join(lines)
