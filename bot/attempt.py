"""One attempt at handling a spooled event: what failed, and what was already done on an earlier attempt.

Bolt catches a listener's exception and hands it to the app's error handler, so ``app.dispatch`` only says
"500". The event process needs the exception itself (a store outage is retried, a bug is not), so the error
handler, and the authorisation that runs before any listener, call ``note_failure``, which records it on the
attempt under way in this thread (a context variable; in the event process listeners run in the dispatching
thread).

A retried event must not do again what its earlier attempt did. ``once(name, work)`` runs ``work`` the first
time and, on a later attempt of the same event, returns what it returned then; Web API calls that change
something (``chat.*``, ``views.*``, ``reactions.*``) go through ``once`` too (``journal_client``), so a reply
posted before a later step failed is not posted again. Outside an attempt (inline mode, commands, buttons)
both simply run.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

T = TypeVar("T")
_WRITES = ("chat.", "views.", "reactions.")


@dataclass
class Attempt:
    spool: Any              # connectors.spool.Spool
    event: int              # the spooled event's row id
    error: BaseException | None = None
    _seq: int = field(default=0)

    def once(self, name: str, work: Callable[[], T], keep: Callable[[T], Any], restore: Callable[[Any], T]) -> T:
        self._seq += 1
        seen, kept = self.spool.recall(self.event, self._seq, name)
        if seen:
            return restore(kept)
        result = work()
        self.spool.remember(self.event, self._seq, name, keep(result))
        return result


current: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("itbot_event_attempt", default=None)


def _same(value: Any) -> Any:
    return value


def once(name: str, work: Callable[[], T], *, keep: Callable[[T], Any] = _same,
         restore: Callable[[Any], T] = _same) -> T:
    """``work()`` the first time; on a retry of the same event, ``restore`` of what ``keep`` made of its result
    then (``keep`` must give plain data: numbers, strings, lists, dicts)."""
    attempt = current.get()
    return work() if attempt is None else attempt.once(name, work, keep, restore)


def note_failure(error: BaseException) -> None:
    attempt = current.get()
    if attempt is not None and attempt.error is None:
        attempt.error = error


def journal_client(client: WebClient) -> WebClient:
    """The same client, its state-changing calls recorded per attempt (and replayed on a retry)."""
    live = client.api_call

    def api_call(api_method: str, **kwargs: Any) -> SlackResponse:
        if current.get() is None or not api_method.startswith(_WRITES):
            return live(api_method, **kwargs)

        def call() -> dict[str, Any]:
            return live(api_method, **kwargs).data

        data = once(f"slack:{api_method}", call)
        return SlackResponse(client=client, http_verb="POST", api_url=client.base_url + api_method, req_args={},
                             data=data, headers={}, status_code=200).validate()

    client.api_call = api_call  # type: ignore[method-assign]
    return client
