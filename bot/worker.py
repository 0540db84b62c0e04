"""`itbot worker`: advances checklist runs and sends the outbox. Several may run: each step and each outbox
row is claimed by exactly one.

A pass is one engine tick (due steps, expired approvals) and then a drain of the outbox (task and approval
cards, progress cards, notices). The worker passes every ``ITBOT_WORKER_POLL`` seconds (2 by default) and at
once when woken in-process; a pass with nothing due costs a couple of indexed queries, so polling is cheap.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import Any, Callable

from bot.app import make_client
from bot.logs import configure_logging
from bot.metrics import observe_directory
from bot.outbox import OutboxSender
from bot.server import metrics_server
from bot.settings import Settings
from connectors.services import build_services

log = logging.getLogger(__name__)


class WorkerLoop:
    """Ticks the engine and drains the outbox, every ``poll`` seconds or when woken."""

    def __init__(self, services: Any, client: Any, *, name: str, poll: float = 2.0):
        self.services, self.name, self.poll = services, name, poll
        self.sender = OutboxSender(services, client)
        services.engine.observe_directory = observe_directory   # the directory calls, for /metrics
        self._wake = threading.Event()
        self._lock = threading.Condition()
        self._asked = self._done = 0   # wake-ups asked for, and passes begun after the latest of them
        self._running = False

    def wake(self) -> None:
        """Do a pass now (a decision was recorded, a task was marked done)."""
        with self._lock:
            self._asked += 1
        self._wake.set()

    def run_pass(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """One tick and one drain; once ``stopping()`` says so, nothing new is taken (see Engine.tick and
        OutboxSender.drain: the step under way finishes, unsent rows are handed back)."""
        with self._lock:
            self._running, seen = True, self._asked
        try:
            try:
                self.services.engine.tick(self.name, stopping=stopping)
            except Exception:  # one bad tick must not stop the worker; the step stays claimable
                log.exception("worker tick failed")
            try:
                self.sender.drain(stopping=stopping)
            except Exception:  # the store is away: the rows stay, their leases run out, they are sent later
                log.exception("outbox drain failed")
        finally:
            with self._lock:
                self._running, self._done = False, max(self._done, seen)
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once every wake-up asked for so far has had its pass (for tools driving the app)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._running and self._done >= self._asked, timeout)

    def serve(self, stop: threading.Event, *, poll: bool = True) -> None:
        """Pass until ``stop``: on each wake-up, and every ``poll`` seconds unless ``poll`` is False."""
        while not stop.is_set():
            self._wake.wait(self.poll if poll else None)
            self._wake.clear()
            if stop.is_set():
                break
            self.run_pass(stop.is_set)

    def start_thread(self, stop: threading.Event, *, poll: bool = True) -> threading.Thread:
        thread = threading.Thread(target=self.serve, args=(stop,), kwargs={"poll": poll}, name="itbot-worker",
                                  daemon=True)
        thread.start()
        return thread


def run_worker(settings: Settings, *, once: bool = False) -> int:
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    services = build_services(settings)
    name = f"{socket.gethostname()}:{os.getpid()}"
    loop = WorkerLoop(services, make_client(settings), name=name, poll=settings.worker_poll)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()
        loop.wake()

    # systemd and Kubernetes stop a worker so: it takes nothing new, finishes the step under way and hands
    # back the messages it had claimed but not sent
    signal.signal(signal.SIGTERM, _stop)
    log.info("worker started", extra={"worker": name, "poll": settings.worker_poll})
    metrics = metrics_server(settings, services) if not once else None
    try:
        loop.run_pass(stop.is_set)
        if not once:
            loop.serve(stop)
    finally:
        if metrics is not None:
            metrics.stop()
        services.close()
    log.info("worker stopped", extra={"worker": name})
    return 0
