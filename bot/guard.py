"""In front of Bolt on /slack/events: a request Bolt would choke on is answered 4xx with the reason.

Bolt decodes and parses a body before it checks the signature, and its listeners trust the shape of what
Slack sends; a signed request that is not UTF-8, not JSON, nested absurdly deep, or an interaction missing
the fields Slack always sends (or carrying a button value itbot never put there) would otherwise end in a
500, a 404 after the ack timeout, or silence. Here, in order:

1. ``X-Slack-Request-Timestamp`` must be unix seconds and the signature must match → else 401;
2. the body must be UTF-8, parse (JSON, or form fields with ``payload=<JSON>``) and be at most
   ``MAX_DEPTH`` deep → else 400 ``{"error": "body: …"}``;
3. the parsed body must have the fields the listeners read (``shape_problem``) → else 400 naming the field.

Only then is the request handed to Bolt, unchanged (the same bytes, so Bolt verifies the same signature).
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from bot.home_ids import HomeActionId
from bot.ids import ActionId, CallbackId, DigestActionId, RunActionId

requests_log = logging.getLogger("itbot.requests")
MAX_DEPTH = 48            # Slack's deepest payloads (rich text in a message in an action) are ~15 levels
_SECONDS = re.compile(r"\d{1,12}")
_ROW_ID = re.compile(r"\d{1,18}")   # a store id: a positive integer that fits a 64-bit column
# buttons whose value is the id of a row in the store
NUMERIC_ACTIONS = frozenset(a.value for a in (*ActionId, *RunActionId, *DigestActionId))
# buttons itbot puts only on messages: their listeners answer in the message's channel
MESSAGE_ACTIONS = NUMERIC_ACTIONS
_KNOWN_ACTIONS = NUMERIC_ACTIONS | {a.value for a in HomeActionId}

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class Malformed(ValueError):
    """What is wrong with a request, safe to send back."""


def depth(value: Any) -> int:
    """How deeply ``value`` nests (iteratively: a hostile body cannot exhaust the stack here)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _loads(text: str, what: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise Malformed(f"{what}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    except ValueError as exc:
        raise Malformed(f"{what}: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if depth(value) > MAX_DEPTH:
        raise Malformed(f"{what}: nested too deeply (at most {MAX_DEPTH} levels)")
    return value


def parse_body(raw: bytes, content_type: str) -> Any:
    """The body as Bolt will parse it (``Malformed`` if it cannot be)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("body: not UTF-8") from None
    if not text.strip():
        raise Malformed("body: empty")
    if "application/x-www-form-urlencoded" in (content_type or "").lower():
        try:
            fields = parse_qs(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise Malformed("body: a form field is not UTF-8") from None
        if "payload" in fields:
            return _loads(fields["payload"][0], "payload")
        return {k: v[0] for k, v in fields.items()}
    return _loads(text, "body")


def _get(body: Any, path: str) -> Any:
    value = body
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _need(body: dict, *paths: str, kind: type = str) -> None:
    for path in paths:
        value = _get(body, path)
        if not isinstance(value, kind) or (kind is str and not value):
            raise Malformed(f"{path}: missing" if value is None else f"{path}: expected {kind.__name__}")


def _actions_problem(body: dict) -> None:
    _need(body, "user.id")
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        raise Malformed("actions: missing")
    for n, action in enumerate(actions):
        action_id = action.get("action_id")
        if not isinstance(action_id, str):
            raise Malformed(f"actions[{n}].action_id: missing")
        if action_id not in _KNOWN_ACTIONS:
            continue
        if action_id in NUMERIC_ACTIONS and not (isinstance(action.get("value"), str)
                                                 and _ROW_ID.fullmatch(action["value"])):
            shown = str(action.get("value"))[:40]
            raise Malformed(f"actions[{n}].value: {action_id} expects a request, task or approval number, "
                            f"got {shown!r}")
        if action_id in MESSAGE_ACTIONS:
            _need(body, "channel.id", "container.message_ts")


def _view_problem(body: dict) -> None:
    _need(body, "user.id", "view.id", "view.callback_id")
    values = _get(body, "view.state.values")
    if not isinstance(values, dict) or not all(isinstance(v, dict) and all(isinstance(e, dict) for e in v.values())
                                               for v in values.values()):
        raise Malformed("view.state.values: missing")
    meta = _get(body, "view.private_metadata")
    if meta is not None and not isinstance(meta, str):
        raise Malformed("view.private_metadata: expected str")
    if body["view"]["callback_id"] == CallbackId.REASSIGN_MODAL.value and not _ROW_ID.fullmatch(meta or ""):
        raise Malformed("view.private_metadata: expected the request number")


def shape_problem(body: Any) -> str | None:
    """What a parsed Slack body lacks that the listeners read, or None when it has it all."""
    try:
        if not isinstance(body, dict):
            raise Malformed("body: expected a JSON object")
        kind = body.get("type")
        if kind == "event_callback":
            _need(body, "event", kind=dict)
            _need(body, "event.type")
        elif kind == "block_actions":
            _actions_problem(body)
        elif kind == "view_submission":
            _view_problem(body)
        elif kind in ("shortcut", "message_action"):
            _need(body, "user.id", "trigger_id", "callback_id")
            if kind == "message_action":
                _need(body, "message", "channel", kind=dict)
        elif "command" in body:
            _need(body, "command", "user_id", "trigger_id")
    except Malformed as exc:
        return str(exc)
    return None


def _reply(start_response: Callable, status: str, error: str) -> list[bytes]:
    # one line per request, as LoggedDispatch writes for the requests Bolt answers
    requests_log.warning("slack request", extra={"kind": "refused", "status": int(status[:3]), "error": error})
    data = json.dumps({"error": error}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def signed(secret: str, timestamp: str, raw: bytes, signature: str, now: float) -> bool:
    """Slack's ``v0`` signature of the raw bytes (slack_sdk's verifier decodes them first, and fails on
    bytes that are not UTF-8), within five minutes of ``now``."""
    if abs(now - int(timestamp)) > 300:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def guard(slack: WsgiApp, signing_secret: str | None, clock: Callable[[], float] = time.time) -> WsgiApp:
    """Wrap Bolt's WSGI handler; ``signing_secret`` None (verification off) skips step 1."""

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = (environ.get("CONTENT_LENGTH") or "0").strip()
        raw = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        if signing_secret:
            timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
            if not _SECONDS.fullmatch(timestamp):
                return _reply(start_response, "401 Unauthorized",
                              "invalid request: X-Slack-Request-Timestamp is not unix seconds")
            if not signed(signing_secret, timestamp, raw, environ.get("HTTP_X_SLACK_SIGNATURE", ""), clock()):
                return _reply(start_response, "401 Unauthorized", "invalid request")
        try:
            problem = shape_problem(parse_body(raw, environ.get("CONTENT_TYPE", "")))
        except Malformed as exc:
            problem = str(exc)
        if problem:
            return _reply(start_response, "400 Bad Request", problem)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(raw), str(len(raw))
        return slack(environ, start_response)

    return wsgi
