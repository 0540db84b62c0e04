"""Socket Mode for `itbot serve`: the app holds a WebSocket to Slack instead of serving /slack/events.

Start-up asks Slack for a connection URL with the app-level token (``apps.connections.open``) before anything
else starts, so a refused token or an unreachable Slack stops itbot with one line naming the variable. Bolt's
built-in adapter then connects to that URL, acks each envelope on the socket and, when Slack asks for a
refresh or the socket drops, asks for a new URL and reconnects on its own.
"""
from __future__ import annotations

import logging
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.server import HttpServer
from bot.settings import SettingsError

log = logging.getLogger(__name__)
# apps.connections.open errors that mean the token itself is wrong (docs.slack.dev: the method's errors
# and the errors every method shares).
_TOKEN_ERRORS = ("invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "token_expired",
                 "account_inactive", "missing_scope", "no_permission", "invalid_token")


def open_connection_url(client: WebClient, app_token: str) -> str:
    """A WebSocket URL for this app; SettingsError (one line, no token in it) when Slack will not give one."""
    try:
        return client.apps_connections_open(app_token=app_token)["url"]
    except SlackApiError as exc:
        error = exc.response.get("error") or f"HTTP {exc.response.status_code}"
        if error in _TOKEN_ERRORS:
            raise SettingsError(f"SLACK_APP_TOKEN was refused by Slack ({error}): use the app-level token (xapp-…) "
                                f"with the connections:write scope from Basic Information → App-Level Tokens") from None
        raise SettingsError(f"Slack would not open a Socket Mode connection ({error}) at SLACK_API_URL="
                            f"{client.base_url}") from None
    except OSError as exc:
        raise SettingsError(f"SLACK_API_URL={client.base_url} could not be reached to open a Socket Mode "
                            f"connection ({type(exc).__name__})") from None


def hold_socket(app: App, app_token: str, url: str, health: HttpServer, stop: threading.Event) -> None:
    """Connect to ``url`` and serve until ``stop`` is set; then close the socket and /healthz."""
    handler = SocketModeHandler(app, app_token)
    handler.client.wss_uri = url   # the URL start-up already asked for; reconnects ask for new ones
    health.start()
    try:
        handler.connect()
        if handler.client.is_connected():
            log.info("connected to Slack in Socket Mode", extra={"health_port": health.port})
        else:   # slack_sdk's monitor keeps asking for a new URL and reconnecting
            log.warning("could not connect to Slack in Socket Mode yet; retrying", extra={"health_port": health.port})
        stop.wait()
    finally:
        handler.close()
        health.stop()
        log.info("Socket Mode connection closed")
