"""The Web API methods FakeSlack answers, each returning the body Slack would.

Shapes follow docs.slack.dev's method reference: ``ts`` strings, ``D…`` ids for DMs,
``channel_not_found`` / ``message_not_found`` / ``user_not_found`` errors, and the view
object echoed back with an ``id`` from ``views.*``.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

_BLOCK_LIMIT = {"message": 50, "modal": 100, "home": 100}


@dataclass
class SlackState:
    bot_token: str
    team_id: str
    bot_user_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    home: dict[str, dict[str, Any]] = field(default_factory=dict)
    socket_url: Callable[[], str] | None = None   # issues a Socket Mode URL (FakeSlack with an app token)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_user(self, user_id: str, name: str, *, tz: str = "Europe/London", email: str | None = None,
                 is_bot: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id, "team_id": self.team_id, "name": name.lower().replace(" ", "."), "real_name": name,
            "deleted": False, "is_bot": is_bot, "tz": tz, "tz_offset": 0,
            "profile": {"real_name": name, "display_name": name.split()[0],
                        "email": email or f"{name.lower().replace(' ', '.')}@example.test"},
        }

    def record_person_message(self, event: dict[str, Any]) -> None:
        """What a person wrote (an event the driver sent): Slack keeps it in the channel's history too."""
        if event.get("type") not in ("message", "app_mention") or not event.get("channel"):
            return
        with self._lock:
            self.messages.append({"channel": event["channel"], "ts": event.get("ts") or self.next_ts(),
                                  "text": event.get("text", ""), "blocks": [], "thread_ts": event.get("thread_ts"),
                                  "user": event.get("user")})

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    def messages_in(self, channel: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self.messages if channel is None or m["channel"] == channel]

    def find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["channel"] == channel and m["ts"] == ts), None)


def _error(code: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, **extra}


def _check_blocks(args: dict[str, Any], surface: str = "message") -> dict[str, Any] | None:
    blocks = args.get("blocks") or []
    if len(blocks) > _BLOCK_LIMIT[surface]:
        return _error("invalid_blocks", errors=[f"must provide an array of no more than {_BLOCK_LIMIT[surface]} items"])
    return None


def _channel_ok(state: SlackState, channel: str | None) -> bool:
    return bool(channel) and (channel[0] in "DCG" or channel in state.channels or channel in state.users)


def auth_test(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "itbot",
            "team_id": state.team_id, "user_id": state.bot_user_id, "bot_id": "B0ITBOT", "is_enterprise_install": False}


def chat_post_message(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    channel = args.get("channel")
    if not _channel_ok(state, channel):
        return _error("channel_not_found")
    if not args.get("text") and not args.get("blocks"):
        return _error("no_text")
    if bad := _check_blocks(args):
        return bad
    if channel in state.users:  # posting to a user id opens the DM
        channel = "D" + channel[1:]
    with state._lock:
        message = {"channel": channel, "ts": state.next_ts(), "text": args.get("text", ""),
                   "blocks": args.get("blocks") or [], "thread_ts": args.get("thread_ts"), "user": state.bot_user_id}
        if isinstance(args.get("metadata"), dict):
            message["metadata"] = args["metadata"]
        state.messages.append(message)
    return {"ok": True, "channel": channel, "ts": message["ts"], "message": {**message, "type": "message"}}


def _history(state: SlackState, args: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    channel = args.get("channel", "")
    if not _channel_ok(state, channel) or channel in state.users:
        return _error("channel_not_found")
    oldest = float(args.get("oldest") or 0)
    with state._lock:
        found = [dict(m) for m in state.messages if m["channel"] == channel and float(m["ts"]) >= oldest and keep(m)]
    if not str(args.get("include_all_metadata", "")).lower() in ("true", "1"):
        for message in found:
            message.pop("metadata", None)
    return {"ok": True, "messages": found[-int(args.get("limit") or 100):], "has_more": False}


def conversations_history(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    """The channel's top-level messages (newest last here; Slack lists newest first, callers must not care)."""
    return _history(state, args, lambda m: not m.get("thread_ts"))


def conversations_replies(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    parent = args.get("ts")
    return _history(state, args, lambda m: m["ts"] == parent or m.get("thread_ts") == parent)


def chat_update(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    if bad := _check_blocks(args):
        return bad
    with state._lock:
        message = state.find(args.get("channel", ""), args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        message.update(text=args.get("text", message["text"]), blocks=args.get("blocks", message["blocks"]), edited=True)
    return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": message["text"]}


def chat_post_ephemeral(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    if not _channel_ok(state, args.get("channel")):
        return _error("channel_not_found")
    if args.get("user") not in state.users:
        return _error("user_not_in_channel")
    return {"ok": True, "message_ts": state.next_ts()}


def chat_get_permalink(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "channel": args.get("channel"),
            "permalink": f"https://example.slack.com/archives/{args.get('channel')}/p{args.get('message_ts', '').replace('.', '')}"}


def conversations_open(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    users = str(args.get("users", "")).split(",")
    if not users or not all(u in state.users for u in users):
        return _error("user_not_found")
    return {"ok": True, "channel": {"id": "D" + users[0][1:]}}


def users_info(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    user = state.users.get(args.get("user", ""))
    return {"ok": True, "user": user} if user else _error("user_not_found")


def users_lookup_by_email(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    email = str(args.get("email", "")).lower()
    user = next((u for u in state.users.values() if u["profile"]["email"].lower() == email), None)
    return {"ok": True, "user": user} if user else _error("users_not_found")


def usergroups_users_list(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    members = state.usergroups.get(args.get("usergroup", ""))
    return {"ok": True, "users": members} if members is not None else _error("no_such_subteam")


def _view_reply(state: SlackState, args: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
    view = args.get("view")
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return _error("invalid_arguments")
    if bad := _check_blocks({"blocks": view.get("blocks")}, view["type"]):
        return bad
    if view["type"] == "modal" and any(b.get("type") == "input" for b in view.get("blocks", [])) and not view.get("submit"):
        return _error("invalid_arguments", response_metadata={"messages": ["[ERROR] submit is required with input blocks"]})
    view_id = view_id or f"V{next(state._ids):08d}"
    stored = {**view, "id": view_id, "team_id": state.team_id, "state": {"values": {}}, "hash": state.next_ts()}
    state.views[view_id] = stored
    return {"ok": True, "view": stored}


def views_open(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    if not args.get("trigger_id"):
        return _error("invalid_trigger_id")
    return _view_reply(state, args)


def views_push(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    return views_open(state, args)


def views_update(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    view_id = args.get("view_id")
    if view_id not in state.views:
        return _error("not_found")
    return _view_reply(state, args, view_id)


def views_publish(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("user_id") not in state.users:
        return _error("user_not_found")
    reply = _view_reply(state, args)
    if reply.get("ok"):
        state.home[args["user_id"]] = reply["view"]
    return reply


def apps_connections_open(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    if state.socket_url is None:
        return _error("not_allowed_token_type")
    return {"ok": True, "url": state.socket_url()}


def reactions_add(state: SlackState, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True} if state.find(args.get("channel", ""), args.get("timestamp", "")) else _error("message_not_found")


# Called with the app-level token (xapp-…); every other method wants the bot token.
APP_LEVEL_METHODS = frozenset({"apps.connections.open"})
METHODS: dict[str, Callable[[SlackState, dict[str, Any]], dict[str, Any]]] = {
    "apps.connections.open": apps_connections_open,
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.getPermalink": chat_get_permalink,
    "conversations.open": conversations_open,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.users.list": usergroups_users_list,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "reactions.add": reactions_add,
}
