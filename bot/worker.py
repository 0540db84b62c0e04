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
from typing import Any

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

    def run_pass(self) -> None:
        with self._lock:
            self._running, seen = True, self._asked
        try:
            try:
                self.services.engine.tick(self.name)
            except Exception:  # one bad tick must not stop the worker; the step stays claimable
                log.exception("worker tick failed")
            try:
                self.sender.drain()
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
            self.run_pass()

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

    hand_back_on_stop(loop, stop)
    signal.signal(signal.SIGTERM, _stop)   # systemd and Kubernetes stop a worker so
    log.info("worker started", extra={"worker": name, "poll": settings.worker_poll})
    metrics = metrics_server(settings, services) if not once else None
    try:
        loop.run_pass()
        if not once:
            loop.serve(stop)
    finally:
        if metrics is not None:
            metrics.stop()
        services.close()
    log.info("worker stopped", extra={"worker": name})
    return 0


def hand_back_on_stop(loop: WorkerLoop, stop: threading.Event) -> None:
    """Once ``stop`` is set, the worker takes nothing new: the step it is running finishes and records what
    came of it (a directory call is not cut off half way), no further step or outbox row is claimed, and the
    outbox rows it had claimed but not sent yet are handed back at once (due again now) for another worker,
    rather than held until their lease runs out."""
    store, outbox, sender = loop.services.engine.store, loop.sender.outbox, loop.sender
    claim_step, claim_rows, send = store.claim_step, outbox.claim, sender.send

    def step_unless_stopping(*args: Any, **kwargs: Any) -> Any:
        return None if stop.is_set() else claim_step(*args, **kwargs)

    def rows_unless_stopping(*args: Any, **kwargs: Any) -> list:
        return [] if stop.is_set() else claim_rows(*args, **kwargs)

    def send_unless_stopping(row: Any) -> bool:
        if not stop.is_set():
            return send(row)
        outbox.retry(row, sender.clock(), "handed back: the worker that took it was stopped before sending it")
        return False

    store.claim_step, outbox.claim, sender.send = step_unless_stopping, rows_unless_stopping, send_unless_stopping
