"""Sends what people do in Slack to an app in Socket Mode: the payloads ``SlackDriver`` posts over HTTP,
wrapped in the envelopes Slack sends on the socket (``events_api``, ``slash_commands``, ``interactive``).
Each call waits for the app's ack of its envelope and returns it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.devtools.driver import SlackActor
from bot.devtools.socket_peer import SocketModePeer

# Interactions whose ack may carry a response (errors for a form, options for a menu).
_RESPONDING = ("view_submission", "block_suggestion")


@dataclass(frozen=True)
class Acked:
    envelope_id: str   # the envelope that was sent
    ack: dict[str, Any]   # what the app answered on the socket: {"envelope_id": ...[, "payload": ...]}


class SocketDriver(SlackActor):
    def __init__(self, peer: SocketModePeer, *, team_id: str = "T0ITBOT", timeout: float = 15.0):
        super().__init__(team_id=team_id, api_app_id=peer.app_id)
        self.peer = peer
        self.timeout = timeout

    def _send(self, kind: str, payload: dict[str, Any], accepts_response_payload: bool, **extra: Any) -> Acked:
        envelope_id = self.peer.send_envelope(kind, payload, accepts_response_payload=accepts_response_payload, **extra)
        return Acked(envelope_id, self.peer.wait_ack(envelope_id, timeout=self.timeout))

    def deliver_event(self, envelope: dict[str, Any], retry_num: int | None, **kwargs: Any) -> Acked:
        return self._send("events_api", envelope, False, retry_attempt=retry_num or 0,
                          retry_reason="timeout" if retry_num else "")

    def deliver_command(self, fields: dict[str, str], **kwargs: Any) -> Acked:
        return self._send("slash_commands", {**fields, "is_enterprise_install": "false"}, True)

    def deliver_interaction(self, payload: dict[str, Any], **kwargs: Any) -> Acked:
        return self._send("interactive", payload, payload.get("type") in _RESPONDING)
