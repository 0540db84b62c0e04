"""POST /hooks/hr: the HR system's signed webhook, which starts onboarding, offboarding and role-change runs.

The HR system sends one event (see ``workflows.hr``) as JSON with two headers:

    X-Itbot-Timestamp: 1767225600                      unix seconds when it was sent
    X-Itbot-Signature: v1=<hex HMAC-SHA256(HR_WEBHOOK_SECRET, "<timestamp>." + raw body)>

Answers (always JSON): 202 ``{"run_id": N, "created": true}`` a run was started · 200 ``{…, "created":
false}`` the event_id was seen before: that run, nothing new · 400 ``{"errors": [...]}`` every problem with
the payload (or its username belongs to someone else in a directory), nothing started · 401 ``{"error": reason}`` missing, stale (> 5 minutes either way), bad or
replayed signature · 405 not POST · 413 body over 64 KB · 503 not configured, or the run could not be started
(send it again).

Replays: each correctly signed request is accepted once by this process; an identical copy within the time
window is refused (401 "replayed request"), except after a 503, which may be retried unchanged. A retry
signed afresh is answered 200 with the existing run. The memory of signatures is per process: across replicas
(and restarts) it is the idempotency key, checked by the store, that makes a re-sent event start nothing.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterable

from bot.guard import MAX_DEPTH, depth
from workflows.directory import DirectoryError, TransientError
from workflows.directory_plans import PersonError
from workflows.hr import (DEFAULT_TOLERANCE, HrEventError, RunStarter, SignatureError, parse_hr_event,
                          verify_signature)

log = logging.getLogger(__name__)
MAX_HR_BODY = 64 * 1024
NOT_CONFIGURED = "HR webhook not configured: set HR_WEBHOOK_SECRET"
_STATUS = {200: "200 OK", 202: "202 Accepted", 400: "400 Bad Request", 401: "401 Unauthorized", 409: "409 Conflict",
           405: "405 Method Not Allowed", 413: "413 Payload Too Large", 503: "503 Service Unavailable"}


def _reply(start_response: Callable, code: int, body: dict, headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(_STATUS[code], [("Content-Type", "application/json; charset=utf-8"),
                                   ("Content-Length", str(len(data))), ("Cache-Control", "no-store"), *headers])
    return [data]


class _SeenSignatures:
    """Signatures accepted within the time window, each forgotten once its timestamp is too old to pass."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, signature: str, until: float, now: float) -> bool:
        with self._lock:
            for old in [s for s, t in self._until.items() if t < now]:
                del self._until[old]
            if signature in self._until:
                return False
            self._until[signature] = until
            return True

    def release(self, signature: str) -> None:
        with self._lock:
            self._until.pop(signature, None)


def _read(stream, length: int) -> bytes:
    chunks, left = [], length
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def make_hr_hook(secret: str | None, starter: RunStarter, clock: Callable[[], float] = time.time, *,
                 tolerance: int = DEFAULT_TOLERANCE) -> Callable[[dict, Callable], list[bytes]]:
    """The WSGI handler for POST /hooks/hr. ``secret`` None: every request is answered 503 (not configured).
    ``starter.start_run(event)`` returns a ``StartedRun``; for a known idempotency key, the existing run."""
    seen = _SeenSignatures()

    def hook(environ: dict, start_response: Callable) -> list[bytes]:
        if not secret:
            return _reply(start_response, 503, {"error": NOT_CONFIGURED})
        if environ.get("REQUEST_METHOD") != "POST":
            return _reply(start_response, 405, {"error": "POST only"}, [("Allow", "POST")])
        length = (environ.get("CONTENT_LENGTH") or "0").strip()   # waitress sets it for chunked bodies too
        if not (length.isascii() and length.isdigit()):
            return _reply(start_response, 400, {"errors": ["Content-Length: not a number of bytes"]})
        if int(length) > MAX_HR_BODY:
            return _reply(start_response, 413, {"error": f"body too large: at most {MAX_HR_BODY} bytes"})
        body = _read(environ["wsgi.input"], int(length))
        now = clock()
        timestamp = environ.get("HTTP_X_ITBOT_TIMESTAMP", "")
        signature = environ.get("HTTP_X_ITBOT_SIGNATURE", "")
        try:
            verify_signature(secret, timestamp, body, signature, now, tolerance)
        except SignatureError as exc:
            log.warning("HR webhook refused", extra={"reason": exc.reason})
            return _reply(start_response, 401, {"error": exc.reason})
        key = signature.strip().lower()
        if not seen.claim(key, int(timestamp) + tolerance, now):
            log.warning("HR webhook refused", extra={"reason": "replayed request"})
            return _reply(start_response, 401, {"error": "replayed request"})
        try:
            payload = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else \
                f"nested too deeply (at most {MAX_DEPTH} levels)" if isinstance(exc, RecursionError) else "not valid JSON"
            return _reply(start_response, 400, {"errors": [f"body: {reason}"]})
        if depth(payload) > MAX_DEPTH:
            return _reply(start_response, 400, {"errors": [f"body: nested too deeply (at most {MAX_DEPTH} levels)"]})
        try:
            event = parse_hr_event(payload, "webhook")
        except HrEventError as exc:
            log.info("HR webhook event rejected", extra={"problems": len(exc.problems)})
            return _reply(start_response, 400, {"errors": exc.problems})
        try:
            started = starter.start_run(event)
        except PersonError as exc:   # e.g. HR's username belongs to someone else: nothing was started
            log.info("HR webhook event rejected", extra={"problems": len(exc.problems)})
            return _reply(start_response, 400, {"errors": exc.problems})
        except (ValueError, DirectoryError) as exc:
            if isinstance(exc, TransientError):   # a directory could not be reached: the same event may retry
                seen.release(key)
                return _reply(start_response, 503, {"error": f"could not start the run: {exc}; try again later"})
            # the event cannot start a run as it is (a username taken by someone else, a naming rule…):
            # retrying it unchanged would fail the same way, so say why instead of "try again"
            seen.release(key)
            log.info("HR webhook event refused", extra={"event_id": event.idempotency_key, "error": str(exc)})
            return _reply(start_response, 409 if isinstance(exc, DirectoryError) else 400, {"errors": [str(exc)]})
        except Exception:   # the store or engine failed: nothing was promised, so the sender may retry as is
            seen.release(key)
            log.exception("HR webhook: could not start the run", extra={"event_id": event.idempotency_key})
            return _reply(start_response, 503, {"error": "could not start the run: try again later"})
        log.info("HR webhook event accepted", extra={"event_id": event.idempotency_key, "kind": event.kind,
                                                     "run_id": started.run_id, "new_run": started.created})
        return _reply(start_response, 202 if started.created else 200,
                      {"run_id": started.run_id, "created": started.created})

    return hook
