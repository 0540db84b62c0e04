"""create_app(settings, services): the Bolt app, built on demand with nothing done at import time."""
from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (ConnectionErrorRetryHandler,
                                                   ServerErrorRetryHandler)

from bot.attempt import journal_client, note_failure
from bot.listeners import register_listeners
from bot.metrics import CountedRateLimits, count_slack_call
from bot.middleware import LoggedDispatch
from bot.settings import Settings
from connectors.services import Services

log = logging.getLogger(__name__)


class CountedWebClient(WebClient):
    """slack_sdk's client, counting each call's outcome for /metrics (itbot_slack_calls)."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            response = super().api_call(api_method, **kwargs)
        except Exception:
            count_slack_call(api_method, False)
            raise
        count_slack_call(api_method, True)
        return response


def make_client(settings: Settings, token: str | None = None) -> WebClient:
    """A Web API client with a timeout and bounded retries (connection errors, 429 Retry-After, 5xx)."""
    token = token or (settings.slack_bot_token.reveal() if settings.slack_bot_token else None)
    return CountedWebClient(token=token, base_url=settings.slack_api_url, timeout=int(max(1, settings.http_timeout)),
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                                     CountedRateLimits(max_retry_count=3),
                                     ServerErrorRetryHandler(max_retry_count=2)])


def _cached_authorize(client: WebClient):
    """Single-workspace authorisation: one auth.test on first use, then the cached identity."""
    cache: list[AuthorizeResult] = []
    lock = threading.Lock()

    def authorize(enterprise_id: str | None = None, team_id: str | None = None, **_: Any) -> AuthorizeResult:
        with lock:
            if not cache:
                try:
                    info = client.auth_test()
                except Exception as exc:   # Bolt turns this into a 200 with a message: tell the spool loop
                    note_failure(exc)
                    raise
                cache.append(AuthorizeResult(enterprise_id=info.get("enterprise_id"), team_id=info.get("team_id"),
                                             bot_token=client.token, bot_user_id=info.get("user_id"),
                                             bot_id=info.get("bot_id")))
            return cache[0]

    return authorize


class ListenerExecutor(ThreadPoolExecutor):
    """Runs listeners after the ack with the request's context (its request id) carried over, and knows
    how many are still running (``wait_idle``), so tools driving the app can tell when it is through."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._busy = 0
        self._idle = threading.Condition()

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        ctx = contextvars.copy_context()
        with self._idle:
            self._busy += 1
        try:
            return super().submit(self._run, ctx, fn, *args, **kwargs)
        except BaseException:
            self._finished()
            raise

    def _run(self, ctx: contextvars.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return ctx.run(fn, *args, **kwargs)
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    @property
    def busy(self) -> int:
        return self._busy

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


def create_app(settings: Settings, services: Services, *, client: WebClient | None = None,
               relay: Any = None, inline: bool = False, executor: ListenerExecutor | None = None) -> App:
    """The Bolt app. With ``relay`` (an EventRelay), events are acked here and handled in the event process;
    ``inline`` is that event process's own app: requests arrive already verified and run to completion."""
    client = client or make_client(settings)
    signing = settings.slack_signing_secret.reveal() if settings.slack_signing_secret else None
    app = App(
        client=client,
        signing_secret=signing,
        authorize=_cached_authorize(client),
        request_verification_enabled=signing is not None and not inline,
        process_before_response=inline,
        listener_executor=executor or ListenerExecutor(max_workers=8, thread_name_prefix="itbot-listener"),
        logger=logging.getLogger("slack_bolt.App"),
    )
    if not inline:  # the serving process logs each request once, events and refused ones included
        app.dispatch = LoggedDispatch(app.dispatch)  # type: ignore[method-assign]
    if relay is not None:
        from bot.events import forward_events
        app.use(forward_events(relay))
    if inline:  # the event process: a retried event does not post again what its earlier attempt posted
        @app.use
        def journal_slack_calls(req: Any, resp: Any, next: Any) -> Any:  # noqa: A002
            journal_client(req.context.client)
            return next()
    register_listeners(app, services)

    @app.error
    def handle_listener_error(error: Exception, body: dict, logger: logging.Logger) -> None:
        note_failure(error)   # the event process retries what failed for a passing reason
        log.error("listener failed: %s", type(error).__name__, extra={"kind": body.get("type")}, exc_info=error)

    return app
