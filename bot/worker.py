"""`itbot worker`: advances checklist runs. Several may run: each step is claimed by exactly one."""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading

from bot.app import make_client
from bot.logs import configure_logging
from bot.run_notify import deliver
from bot.settings import Settings
from connectors.services import build_services

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, interval: float = 15.0, once: bool = False) -> int:
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    services = build_services(settings)
    client = make_client(settings)
    name = f"{socket.gethostname()}:{os.getpid()}"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("worker started", extra={"worker": name, "interval": interval})
    try:
        while not stop.is_set():
            try:
                deliver(services, client, services.engine.tick(name))
            except Exception:  # one bad tick must not stop the worker; the step stays claimable
                log.exception("worker tick failed")
            if once:
                break
            stop.wait(interval)
    finally:
        services.close()
    return 0
