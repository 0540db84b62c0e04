"""Sends Slack requests (events, slash commands, interactivity) to itbot as Slack builds them.

``SlackActor`` builds what Slack sends when people act: an ``event_callback`` envelope for a DM or a
mention, the fields of a slash command, an interaction payload. A transport delivers it: ``SlackDriver``
over HTTP (events as JSON, slash commands as form fields, interactivity as a form field ``payload=<JSON>``,
each signed with ``v0:{timestamp}:{body}``, HMAC-SHA256 with the signing secret); ``SocketDriver``
(socket_driver.py) as Socket Mode envelopes.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackActor:
    """What people do in Slack, as the payloads Slack builds; a subclass delivers them."""

    def __init__(self, *, team_id: str = "T0ITBOT", api_app_id: str = "A0ITBOT"):
        self.team_id = team_id
        self.api_app_id = api_app_id
        self._seq = itertools.count(1)

    # the transport --------------------------------------------------------------------
    def deliver_event(self, envelope: dict[str, Any], retry_num: int | None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def deliver_command(self, fields: dict[str, str], **kwargs: Any) -> Any:
        raise NotImplementedError

    def deliver_interaction(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        raise NotImplementedError

    on_event: Any = None   # called with each event before it is sent (the Harness records it in FakeSlack)

    def send_event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None,
                   **kwargs: Any) -> Any:
        if self.on_event is not None and retry_num is None:
            self.on_event(event)
        n = next(self._seq)
        envelope = {
            "token": "deprecated-verification-token", "team_id": self.team_id, "api_app_id": self.api_app_id,
            "event": {"event_ts": event.get("ts", f"{time.time():.6f}"), **event}, "type": "event_callback",
            "event_id": event_id or f"Ev{int(time.time() * 1000)}{n:05d}", "event_time": int(time.time()),
        }
        return self.deliver_event(envelope, retry_num, **kwargs)

    # what people do ---------------------------------------------------------------
    def dm(self, user: str, text: str, *, channel: str | None = None, thread_ts: str | None = None, **kwargs: Any) -> Any:
        event = {"type": "message", "channel_type": "im", "channel": channel or "D" + user[1:], "user": user,
                 "text": text, "ts": f"{time.time():.6f}"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.send_event(event, **kwargs)

    def mention(self, user: str, channel: str, text: str, *, bot_user_id: str = "U0ITBOT", **kwargs: Any) -> Any:
        event = {"type": "app_mention", "channel": channel, "user": user, "text": f"<@{bot_user_id}> {text}",
                 "ts": f"{time.time():.6f}"}
        return self.send_event(event, **kwargs)

    def channel_message(self, user: str, channel: str, text: str, *, thread_ts: str | None = None, **kwargs: Any) -> Any:
        event = {"type": "message", "channel_type": "channel", "channel": channel, "user": user, "text": text,
                 "ts": f"{time.time():.6f}"}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.send_event(event, **kwargs)

    def command(self, user: str, command: str, text: str = "", *, channel: str = "C0GENERAL", **kwargs: Any) -> Any:
        fields = {"token": "deprecated", "team_id": self.team_id, "channel_id": channel, "user_id": user,
                  "command": command, "text": text, "api_app_id": self.api_app_id,
                  "response_url": "https://hooks.slack.test/commands/1", "trigger_id": f"trig.{next(self._seq)}"}
        return self.deliver_command(fields, **kwargs)

    def interact(self, payload: dict[str, Any], **kwargs: Any) -> Any:
        payload = {"team": {"id": self.team_id}, "api_app_id": self.api_app_id, "token": "deprecated", **payload}
        return self.deliver_interaction(payload, **kwargs)

    def click(self, user: str, action_id: str, value: str = "", *, channel: str = "C0GENERAL",
              message_ts: str | None = None, block_id: str = "b", **kwargs: Any) -> Any:
        payload = {
            "type": "block_actions", "user": {"id": user}, "trigger_id": f"trig.{next(self._seq)}",
            "container": {"type": "message", "channel_id": channel, "message_ts": message_ts or "0"},
            "channel": {"id": channel}, "message": {"ts": message_ts or "0", "text": "", "blocks": []},
            "response_url": "https://hooks.slack.test/actions/1",
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                         "action_ts": f"{time.time():.6f}"}],
        }
        return self.interact(payload, **kwargs)

    def submit_view(self, user: str, callback_id: str, values: dict[str, dict[str, Any]], *,
                    private_metadata: str = "", **kwargs: Any) -> Any:
        payload = {"type": "view_submission", "user": {"id": user}, "trigger_id": f"trig.{next(self._seq)}",
                   "view": {"id": f"V{next(self._seq):08d}", "type": "modal", "callback_id": callback_id,
                            "private_metadata": private_metadata, "state": {"values": values}}}
        return self.interact(payload, **kwargs)


class SlackDriver(SlackActor):
    """Delivers over HTTP to /slack/events, signed; each call returns the HTTP ``Reply``."""

    def __init__(self, url: str, signing_secret: str, *, team_id: str = "T0ITBOT", api_app_id: str = "A0ITBOT"):
        super().__init__(team_id=team_id, api_app_id=api_app_id)
        self.url = url
        self.verifier = SignatureVerifier(signing_secret)

    def post(self, body: str | bytes, content_type: str, *, timestamp: int | str | None = None,
             signature: str | None = None, headers: dict[str, str] | None = None) -> Reply:
        """POST ``body`` signed as Slack signs it; bytes are sent as they are (to send what Slack never would:
        bytes that are not UTF-8, a timestamp that is not a number)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        raw = body if isinstance(body, bytes) else body.encode("utf-8")
        sig = signature or "v0=" + hmac.new(self.verifier.signing_secret.encode(), f"v0:{ts}:".encode() + raw,
                                            hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.url, data=raw, method="POST", headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.read().decode(), dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read().decode(), dict(exc.headers))

    def deliver_event(self, envelope: dict[str, Any], retry_num: int | None, **kwargs: Any) -> Reply:
        headers = dict(kwargs.pop("headers", {}) or {})
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        return self.post(json.dumps(envelope), "application/json", headers=headers, **kwargs)

    def deliver_command(self, fields: dict[str, str], **kwargs: Any) -> Reply:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    def deliver_interaction(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs)
