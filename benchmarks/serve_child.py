"""One serving process for the benchmarks, so each can be timed and weighed on its own.

    python -m benchmarks.serve_child fake                       # the Slack Web API double
    python -m benchmarks.serve_child itbot --slack-api-url URL  # the real app, wired by Harness
    python -m benchmarks.serve_child bare                       # a Bolt app that only acks

When ready the process prints one JSON line on stdout ({"role", "url", "pid"}, plus
"signing_secret" for the apps), then serves until stdin closes or a line "quit" arrives.
itbot's line also carries what Harness set up on the fake's state (its people), which the
parent replays on the fake with "seed <json>". "stats" asks itbot for its listener work
({"pending", "submitted", "errors"}: the benchmark waits for pending to reach 0 between blocks)
and the fake for the Web API calls it received ({"calls", "by_method", "not_ok"}).

The fake lives in its own process so that the itbot process's memory and CPU are itbot's alone,
as in production where the Web API is Slack's servers.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import threading
from collections import Counter
from concurrent.futures import Future
from typing import Any, Callable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

from bot.devtools.fake_slack import FakeSlack
from bot.devtools.harness import BOT_TOKEN, Harness
from bot.logs import configure_logging
from bot.server import HttpServer

TEAM_ID = "T0ITBOT"  # FakeSlack's default team, which Harness uses


def _announce(**fields: Any) -> None:
    print(json.dumps({**fields, "pid": os.getpid()}), flush=True)


def _serve_commands(handlers: dict[str, Callable[[str], dict]]) -> None:
    """Answer one JSON line per command line ("name" or "name argument") until "quit" or EOF."""
    for line in sys.stdin:
        name, _, argument = line.strip().partition(" ")
        if name == "quit":
            return
        handler = handlers.get(name)
        print(json.dumps(handler(argument) if handler else {"error": f"unknown command {name!r}"}), flush=True)


# -- the Slack Web API double ------------------------------------------------------
def run_fake() -> None:
    fake = FakeSlack(bot_token=BOT_TOKEN).start()  # as Harness builds it

    def seed(argument: str) -> dict:
        """Replay on the fake's state what Harness set up on it (users...) in the itbot process."""
        for method, args, kwargs in json.loads(argument):
            getattr(fake.state, method)(*args, **kwargs)
        return {"seeded": len(json.loads(argument))}

    def stats(_: str) -> dict:
        calls = list(fake.calls)  # a snapshot; the fake only ever appends
        by_method = Counter(c.method for c in calls)
        not_ok = Counter(f"{c.method}: {c.response.get('error', c.status)}" for c in calls
                         if c.status != 200 or not c.response.get("ok", False))
        return {"calls": len(calls), "by_method": dict(by_method), "not_ok": dict(not_ok)}

    try:
        _announce(role="fake", url=fake.url)
        _serve_commands({"seed": seed, "stats": stats})
    finally:
        fake.stop()


# -- itbot, wired by Harness, with the double in another process -------------------
class _RecordingState:
    """Takes the place of FakeSlack.state in the itbot process and records what Harness sets up on it."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def __getattr__(self, method: str) -> Callable[..., None]:
        if method.startswith("_"):
            raise AttributeError(method)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append([method, list(args), kwargs])

        return record


class _RemoteSlack:
    """Takes the place of Harness.fake: the double runs in its own process, at ``url``."""

    def __init__(self, url: str):
        self.url = url
        self.state = _RecordingState()

    def start(self) -> "_RemoteSlack":
        return self

    def stop(self) -> None:
        pass


class _ListenerWork:
    """Counts the listener tasks an App's executor is running or holding, and the errors logged.

    Wraps the executor's submit on this instance only: that is how the benchmark knows itbot's
    after-the-ack work is finished, however many Web API calls a message leads to.
    """

    def __init__(self, app: App, relay: Any = None):
        self.relay = relay  # events handled in itbot's event process (as `itbot serve` runs)
        self._lock = threading.Lock()
        self.pending = self.submitted = 0
        self.errors: Counter = Counter()
        executor = app.listener_runner.listener_executor
        submit = executor.submit

        def counted_submit(fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
            with self._lock:
                self.pending += 1
                self.submitted += 1
            future = submit(fn, *args, **kwargs)
            future.add_done_callback(self._done)
            return future

        executor.submit = counted_submit  # type: ignore[method-assign]
        counter = self

        class ErrorCounter(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                what = f"{record.name}: {record.getMessage()}"
                if record.exc_info and record.exc_info[1] is not None:
                    error = record.exc_info[1]
                    what += f" ({type(error).__name__}: {error})"
                counter.errors[what[:200]] += 1

        logging.getLogger().addHandler(ErrorCounter(logging.ERROR))

    def _done(self, _: Future) -> None:
        with self._lock:
            self.pending -= 1

    def stats(self, _: str = "") -> dict:
        relayed = self.relay.pending() if self.relay is not None else 0
        with self._lock:
            return {"pending": self.pending + relayed, "submitted": self.submitted, "errors": dict(self.errors)}


def run_itbot(slack_api_url: str) -> None:
    harness = Harness(event_process=True)  # as `itbot serve` runs: events handled in a separate process
    remote = _RemoteSlack(slack_api_url)
    harness.fake = remote  # type: ignore[assignment]
    harness.start()  # SQLite in a temp dir, migrations, create_app, waitress on 127.0.0.1:<free port>
    settings = harness.settings
    # Log as `itbot serve` does (one JSON line per request), into /dev/null rather than a pipe.
    configure_logging(settings.log_level, settings.log_format, settings.secrets(), stream=open(os.devnull, "w"))
    work = _ListenerWork(harness.app, harness.relay)
    try:
        _announce(role="itbot", url=harness.server.url + "/slack/events", signing_secret=harness.signing_secret,
                  people=list(harness.people), fake_state_calls=remote.state.calls,
                  event_pid=harness.relay._process.pid)
        _serve_commands({"stats": work.stats})
    finally:
        harness.stop()


# -- the baseline: Bolt that only acks ---------------------------------------------
def build_bare_app(signing_secret: str) -> App:
    identity = AuthorizeResult(enterprise_id=None, team_id=TEAM_ID, bot_token="xoxb-bare-0000",
                               bot_user_id="U0BARE", bot_id="B0BARE")

    def authorize(enterprise_id, team_id, logger):  # a fixed identity: no auth.test
        return identity

    app = App(signing_secret=signing_secret, authorize=authorize, logger=logging.getLogger("bare"))

    @app.event("message")
    def ignore_message() -> None:
        pass

    return app


def run_bare() -> None:
    signing_secret = secrets.token_hex(16)
    server = HttpServer(SlackRequestHandler(build_bare_app(signing_secret)), "127.0.0.1", 0).start()
    try:
        _announce(role="bare", url=server.url + "/slack/events", signing_secret=signing_secret)
        _serve_commands({})
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_child")
    parser.add_argument("role", choices=("fake", "itbot", "bare"))
    parser.add_argument("--slack-api-url", help="the fake's URL (itbot only)")
    args = parser.parse_args(argv)
    if args.role == "fake":
        run_fake()
    elif args.role == "itbot":
        if not args.slack_api_url:
            parser.error("itbot needs --slack-api-url")
        run_itbot(args.slack_api_url)
    else:
        run_bare()


if __name__ == "__main__":
    main()
