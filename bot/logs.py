"""Structured logging: one JSON object per line, a request id on each, no secret ever.

Every record passes through ``RedactingFilter``, which masks the process's own credentials
and anything shaped like a token or password, in the message, the arguments and the extras.
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Iterable

from workflows.redact import is_secret_key, scrub, scrub_text

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("itbot_request_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, scrub(value, self.secrets) if not is_secret_key(key) else "***")
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            out["request_id"] = record.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_text:
            out["error"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
        rid = f" [{record.request_id}]" if getattr(record, "request_id", None) else ""
        line = f"{record.levelname.lower():7} {record.name}{rid}: {record.getMessage()}" + (f" {extras}" if extras else "")
        return line + (f"\n{record.exc_text}" if record.exc_text else "")


def configure_logging(level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = (), stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("slack_bolt", "slack_sdk", "urllib3", "waitress", "alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
