"""The whole app on loopback: FakeSlack + store + the real Bolt app behind waitress + a signed driver.

Used by `itbot demo`, `itbot chat`, the test suite and the benchmarks, so that all of them go
through the same HTTP path Slack uses in production.
"""
from __future__ import annotations

import secrets
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.app import ListenerExecutor, create_app
from bot.devtools.driver import SlackDriver
from bot.devtools.fake_slack import Call, FakeSlack
from bot.server import HttpServer, make_wsgi
from bot.settings import Secret, Settings
from connectors.services import Services, build_services
from workflows.models import Person

BOT_TOKEN = "xoxb-itbot-local-0000"
DEFAULT_PEOPLE = {
    "U0ANA": ("Ana Lima", "Europe/Lisbon"),
    "U0BEN": ("Ben Okafor", "Europe/London"),
    "U0CHLOE": ("Chloé Martin", "Europe/Paris"),
    "U0DEV": ("Dev Patel", "America/New_York"),
    "U0IT1": ("Sam Reed", "Europe/London"),
    "U0IT2": ("Priya Shah", "Europe/London"),
    "U0IT3": ("Tom Berg", "Europe/London"),
    "U0SEC1": ("Nadia Haddad", "Europe/London"),
    "U0MSP1": ("Luis Ortega", "Europe/Madrid"),
    "U0CIO": ("Grace Kim", "Europe/London"),
    "U0HR1": ("Hana Ruiz", "Europe/London"),
}
# Who manages whom in the sandbox (approvals for access requests go to the manager).
DEFAULT_MANAGERS = {"U0ANA": "U0BEN", "U0CHLOE": "U0BEN", "U0DEV": "U0CIO", "U0BEN": "U0CIO"}


class Harness:
    def __init__(self, *, database_url: str | None = None, settings: Settings | None = None,
                 people: dict[str, tuple[str, str]] | None = None, clock: Any = None,
                 event_process: bool = False, directories: Any = None):
        self._clock = clock
        self._directories = directories
        self._event_process = event_process
        self.relay: Any = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._database_url = database_url
        self._base_settings = settings
        self.people = dict(DEFAULT_PEOPLE if people is None else people)
        self.signing_secret = secrets.token_hex(16)
        self.hr_secret = secrets.token_hex(32)
        self.fake = FakeSlack(bot_token=BOT_TOKEN)
        self.services: Services | None = None
        self.server: HttpServer | None = None
        self.driver: SlackDriver | None = None
        self.settings: Settings | None = None
        self.app: Any = None
        self.executor: ListenerExecutor | None = None
        self.worker: Any = None
        self._worker_stop: Any = None

    def start(self) -> "Harness":
        self._tmp = tempfile.TemporaryDirectory(prefix="itbot-")
        if self._database_url is None:
            self._database_url = f"sqlite:///{Path(self._tmp.name) / 'itbot.db'}"
        self.fake.start()
        for user_id, (name, tz) in self.people.items():
            self.fake.state.add_user(user_id, name, tz=tz)
        base = self._base_settings or Settings.from_env({}, require_slack=False)
        self.settings = replace(base, slack_bot_token=Secret(BOT_TOKEN), slack_signing_secret=Secret(self.signing_secret),
                                slack_app_token=None, slack_api_url=self.fake.url, database_url=self._database_url,
                                directory_mode="sandbox", hr_webhook_secret=Secret(self.hr_secret),
                                spool_path=str(Path(self._tmp.name) / "spool.db"))
        self.services = build_services(self.settings, clock=self._clock, directories=self._directories)
        self._seed_people()
        # the worker, as `itbot worker` runs it, in a thread: woken by the listeners (no polling, so a test's
        # own ticks and clock moves stay in its hands)
        import threading
        from bot.app import make_client
        from bot.worker import WorkerLoop
        self.worker = WorkerLoop(self.services, make_client(self.settings), name="harness-worker")
        self._worker_stop = threading.Event()
        self.worker.start_thread(self._worker_stop, poll=False)
        self.services.wake = self.worker.wake
        if self._event_process:  # as `itbot serve` runs: events handled in a separate process
            from bot.events import EventRelay
            self.relay = EventRelay(self.settings).start()
        self.executor = ListenerExecutor(max_workers=8, thread_name_prefix="itbot-listener")
        self.app = create_app(self.settings, self.services, relay=self.relay, executor=self.executor)
        from bot.run import hr_hook
        self.server = HttpServer(make_wsgi(self.app, self.services, hr_hook(self.settings, self.services)),
                                 "127.0.0.1", 0).start()
        self.driver = SlackDriver(self.server.url + "/slack/events", self.signing_secret)
        self.driver.on_event = self.fake.state.record_person_message
        return self

    def settle(self, *, after: int = 0, timeout: float = 15.0) -> list[Call]:
        """Wait until the app is through with what it was sent (no listener running here, no event in the
        spool: none waiting, being handled or waiting to be retried; and the worker through with every pass it
        was woken for); the Slack calls made since ``after``.

        Call it after the driver's request has returned: by then Bolt has handed the listener over."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the app was still busy after {timeout}s")
            if self.executor.wait_idle(remaining) and (self.relay is None or self.relay.pending() == 0) \
                    and self.worker.wait_idle(max(deadline - time.monotonic(), 0)):
                if self.executor.busy == 0 and self.worker.wait_idle(0):  # nothing new was handed over meanwhile
                    return list(self.fake.calls[after:])
            time.sleep(0.005)

    def _seed_people(self) -> None:
        """Put the sandbox's people in the store, then record who manages whom."""
        for link_managers in (False, True):
            for user_id, (name, tz) in self.people.items():
                manager = DEFAULT_MANAGERS.get(user_id) if link_managers else None
                self.services.store.save_person(Person(display_name=name, slack_user_id=user_id, timezone=tz,
                                                       manager_slack_id=manager if manager in self.people else None))

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        if self._worker_stop is not None:
            self._worker_stop.set()
            self.worker.wake()
        if self.relay:
            self.relay.stop()
        self.fake.stop()
        if self.services:
            self.services.close()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> "Harness":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def post_hr_event(self, payload: dict[str, Any], *, secret: str | None = None,
                      timestamp: int | None = None) -> tuple[int, dict[str, Any]]:
        """POST a signed HR event to /hooks/hr as an HR system would; (status, JSON reply)."""
        import json
        import time
        import urllib.error
        import urllib.request

        from workflows.hr import sign

        body = json.dumps(payload).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        request = urllib.request.Request(self.server.url + "/hooks/hr", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Itbot-Timestamp": ts,
            "X-Itbot-Signature": sign(secret or self.hr_secret, ts, body)})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def name_of(self, user_id: str) -> str:
        return self.people.get(user_id, (user_id, ""))[0]
