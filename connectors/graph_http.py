"""Microsoft Graph over a ``requests.Session``: timeouts, bounded retries, one error tree.

Every call has a timeout. ``429``/``503``/``504`` are retried a bounded number of times, waiting
``Retry-After`` seconds when Graph sends it and backing off exponentially (with a cap) when it does
not. A ``404`` on an object created moments ago is retried too (directory replication), but only when
the caller says the call touches such an object. Error bodies ``{"error": {"code", "message",
"innerError", "details"}}`` are mapped on their codes, never their messages, and the code is kept.
Nothing here logs a request or response body.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from connectors.graph_auth import SYSTEM
from workflows.directory import (ConflictError, DirectoryError, InvalidInputError, NotFoundError,
                                 PermissionDeniedError, TransientError)
from workflows.redact import scrub_text

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5              # tries per request for 429/503/504 (first try included)
    base: float = 1.0              # seconds; doubles per attempt without Retry-After
    cap: float = 30.0              # longest backoff
    max_retry_after: float = 120.0  # a longer Retry-After is clipped to this
    replication_attempts: int = 5  # tries for a 404 on a just-created object

    def backoff(self, attempt: int) -> float:
        return min(self.cap, self.base * (2 ** max(attempt - 1, 0)))

    def wait(self, retry_after: str | None, attempt: int) -> float:
        try:
            seconds = float(retry_after) if retry_after is not None else None
        except ValueError:      # an HTTP date: fall back to backoff
            seconds = None
        if seconds is None or seconds < 0:
            return self.backoff(attempt)
        return min(seconds, self.max_retry_after)


@dataclass(frozen=True)
class Call:
    """One Graph request. ``accept`` lists (status, code-or-None) answers that are not errors:
    the caller reads them (e.g. ``(404, None)`` for "absent", ``(400, "Request_BadRequest")`` for an
    add that is already done). ``fresh`` marks a call that touches a just-created object."""

    method: str
    url: str                                   # relative to GRAPH_URL, starting with "/"
    body: Any = field(default=None, repr=False)
    accept: tuple[tuple[int, str | None], ...] = ()
    fresh: bool = False
    id: str = ""                               # $batch id; assigned when empty
    depends_on: tuple[str, ...] = ()           # $batch ids this call must follow
    redact: tuple[str, ...] = field(default=(), repr=False)  # values never to echo (passwords)

    def accepts(self, status: int, code: str | None) -> bool:
        return any(s == status and (c is None or c == code) for s, c in self.accept)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = field(default=None, repr=False)   # may hold a Temporary Access Pass: never shown
    headers: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        return error_code(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def _error(body: Any) -> dict:
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _inner(body: Any) -> dict:
    """``innerError`` (Graph spells it both ways), its keys lower-cased."""
    inner = next((v for k, v in _error(body).items() if k.lower() == "innererror"), None)
    return {str(k).lower(): v for k, v in inner.items()} if isinstance(inner, dict) else {}


def error_code(body: Any) -> str | None:
    return _error(body).get("code") or None


def detail_codes(body: Any) -> list[str]:
    return [d.get("code") for d in _error(body).get("details") or [] if isinstance(d, dict)]


def graph_error(call: Call, reply: Reply) -> DirectoryError:
    """The directory error for a failed Graph answer, keeping Graph's code."""
    code, status = reply.code, reply.status
    details = detail_codes(reply.body)
    text = scrub_text(str(_error(reply.body).get("message") or ""), call.redact)
    where = call.url.split("?")[0]
    message = f"Graph {call.method} {where} answered {status}" + (f": {text}" if text else "")
    request_id = _inner(reply.body).get("request-id")
    if request_id:
        message += f" (request-id {request_id})"
    if "ObjectConflict" in details or code == "ObjectConflict":
        return ConflictError(message, system=SYSTEM, code="ObjectConflict")
    code = code or f"HTTP{status}"
    if status in (401, 403):
        return PermissionDeniedError(message, system=SYSTEM, code=code)
    if status == 404:
        return NotFoundError(message, system=SYSTEM, code=code)
    if status in (409, 412):
        return ConflictError(message, system=SYSTEM, code=code)
    if status == 400:
        return InvalidInputError(message, system=SYSTEM, code=code)
    if status in RETRYABLE or status >= 500 or status == 424:
        return TransientError(message, system=SYSTEM, code=code)
    return DirectoryError(message, system=SYSTEM, code=code)


class GraphHttp:
    """Sends calls to Graph with the token, the timeout and the retry policy.

    ``round_trips`` counts HTTP requests sent to Graph (a ``$batch`` is one)."""

    def __init__(self, base_url: str, token: Callable[[], str], *, session: requests.Session | None = None,
                 timeout: float = 10.0, sleep: Callable[[float], None] | None = None,
                 retry: RetryPolicy | None = None):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.session = session or requests.Session()
        self.timeout = timeout
        self.sleep = sleep or time.sleep
        self.retry = retry or RetryPolicy()
        self.round_trips = 0

    def send(self, call: Call) -> Reply:
        """One call, retried as the policy allows; an answer not 2xx nor accepted raises."""
        attempt = 0
        while True:
            attempt += 1
            reply = self._once(call.method, call.url, call.body)
            if reply.ok or call.accepts(reply.status, reply.code):
                return reply
            wait = self.retry_wait(call, reply, attempt)
            if wait is None:
                raise graph_error(call, reply)
            log.warning("graph %s %s answered %s; retrying in %.1fs (attempt %d)", call.method,
                        call.url.split("?")[0], reply.status, wait, attempt)
            self.sleep(wait)

    def retry_wait(self, call: Call, reply: Reply, attempt: int) -> float | None:
        """Seconds to wait before trying ``call`` again, or None when it must not be retried."""
        if reply.status in RETRYABLE and attempt < self.retry.attempts:
            return self.retry.wait(reply.header("Retry-After"), attempt)
        if reply.status == 404 and call.fresh and attempt < self.retry.replication_attempts:
            return self.retry.backoff(attempt)
        return None

    def _once(self, method: str, url: str, body: Any) -> Reply:
        full = url if url.startswith("http") else f"{self.base_url}{url}"
        if not full.startswith(self.base_url + "/"):   # a nextLink elsewhere never gets our token
            raise PermissionDeniedError(f"refusing to send the Graph token to {full.split('?')[0]}",
                                        system=SYSTEM, code="foreign_url")
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        self.round_trips += 1
        try:
            resp = self.session.request(method, full, json=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise TransientError(f"Graph {method} {url.split('?')[0]} timed out after {self.timeout:g}s",
                                 system=SYSTEM, code="timeout") from None
        except requests.RequestException as exc:
            raise TransientError(f"Graph {method} {url.split('?')[0]} failed: {type(exc).__name__}",
                                 system=SYSTEM, code="connection_error") from None
        log.debug("graph %s %s -> %s", method, url.split("?")[0], resp.status_code)
        return Reply(resp.status_code, _json(resp), dict(resp.headers))

    def get_pages(self, reply: Reply, call: Call) -> list[dict]:
        """Every item of a collection answer, following ``@odata.nextLink``."""
        body = reply.body or {}
        items = list(body.get("value") or [])
        while body.get("@odata.nextLink"):
            body = self.send(Call("GET", body["@odata.nextLink"], fresh=call.fresh)).body or {}
            items.extend(body.get("value") or [])
        return items


def _json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None
