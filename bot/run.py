"""`itbot serve`: build everything from settings, then serve Slack over HTTP or Socket Mode."""
from __future__ import annotations

import logging
import signal
import threading

from bot.app import create_app, make_client
from bot.events import EventRelay
from bot.hooks import make_hr_hook
from bot.logs import configure_logging
from bot.server import HttpServer, make_wsgi
from bot.settings import Settings, SettingsError
from connectors.services import build_services

log = logging.getLogger(__name__)


def hr_hook(settings: Settings, services):
    """POST /hooks/hr: signed HR events start runs (503 until HR_WEBHOOK_SECRET is set)."""
    secret = settings.hr_webhook_secret.reveal() if settings.hr_webhook_secret else None
    return make_hr_hook(secret, services.engine)


def _listen(wsgi, settings: Settings) -> HttpServer:
    """The HTTP server on HOST:PORT; a host that does not resolve or a port in use is one clear line."""
    try:
        return HttpServer(wsgi, settings.host, settings.port)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SettingsError(f"cannot listen on HOST={settings.host} PORT={settings.port}: {reason}") from None


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    client = make_client(settings)
    url = None
    if settings.socket_mode:  # first: a refused app token stops start-up before anything has started
        from bot.socket_mode import open_connection_url
        url = open_connection_url(client, settings.slack_app_token.reveal())
    services = build_services(settings)
    relay = EventRelay(settings).start() if settings.event_process else None
    try:
        app = create_app(settings, services, client=client, relay=relay)
        hook = hr_hook(settings, services)
        if url is not None:
            from bot.socket_mode import hold_socket
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            health = _listen(make_wsgi(None, services, hook), settings)
            hold_socket(app, settings.slack_app_token.reveal(), url, health, stop)
            return 0
        server = _listen(make_wsgi(app, services, hook), settings)
        # SIGTERM (systemd, Kubernetes): stop accepting, finish the requests under way, then stop the event
        # process once it has handled the events already acked (below)
        signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
        log.info("listening for Slack over HTTP", extra={"port": server.port, "path": "/slack/events"})
        server.serve_forever()
        log.info("stopped serving; finishing the events already acked")
        return 0
    finally:
        if relay is not None:
            relay.stop()   # events already acked are handled before the event process exits
        services.close()
