"""The Slack app asks only for the scopes the code uses, and for every scope the code needs.

The code's Web API calls are found in its source (``client.chat_postMessage(`` is chat.postMessage); each
must be in METHOD_SCOPES, which says which bot scopes it needs (per Slack's method documentation), so a new
method without its scope fails here until the table and slack-manifest.yaml say what it needs."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CODE = ("bot", "connectors", "workflows")
NOT_THE_APP = ("bot/devtools",)   # FakeSlack and the drivers: they serve methods, they do not call them

# method → the bot scopes it needs (all of them); an empty set: none (views.* need only a trigger or a user)
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "apps.connections.open": set(),          # the app-level token's connections:write, not a bot scope
    "chat.postMessage": {"chat:write"},      # with `metadata` too: no extra scope
    "chat.postEphemeral": {"chat:write"},
    "chat.update": {"chat:write"},
    "conversations.open": {"im:write"},      # one user: a DM (a group DM would need mpim:write)
    # the outbox looks for its own message in team channels (public and private) and DMs
    "conversations.history": {"channels:history", "groups:history", "im:history"},
    "conversations.replies": {"channels:history", "groups:history", "im:history"},
    "views.open": set(),
    "views.publish": set(),
    "views.update": set(),
    "views.push": set(),
}
EVENT_SCOPES = {"app_mention": {"app_mentions:read"}, "app_home_opened": set(),
                "message.im": {"im:history"}, "message.channels": {"channels:history"},
                "message.groups": {"groups:history"}}
FEATURE_SCOPES = {"slash_commands": {"commands"}, "shortcuts": {"commands"}}
_CALL = re.compile(r"client\.((?:apps|auth|chat|conversations|users|usergroups|reactions|views|team|files|pins|bookmarks|"
                   r"bots|dnd|emoji|reminders|search|stars|admin|calls|dialog|im|mpim|groups|channels|oauth|"
                   r"openid|rtm|workflows)_[A-Za-z_]+)\(")
_NAMED = re.compile(r"api_call\(\s*[\"']([a-z]+\.[A-Za-z.]+)[\"']")


def methods_called() -> dict[str, str]:
    """Web API method → one place that calls it."""
    found: dict[str, str] = {}
    for top in CODE:
        for path in sorted((REPO / top).rglob("*.py")):
            where = path.relative_to(REPO).as_posix()
            if where.startswith(NOT_THE_APP):
                continue
            text = path.read_text()
            for name in _CALL.findall(text):
                found.setdefault(name.replace("_", "."), where)
            for name in _NAMED.findall(text):
                found.setdefault(name, where)
    return found


def manifest() -> dict:
    return yaml.safe_load((REPO / "slack-manifest.yaml").read_text())


def test_the_scan_finds_the_calls_it_must():
    called = methods_called()
    for method in ("chat.postMessage", "chat.update", "conversations.open", "views.open", "auth.test"):
        assert method in called, f"the scan missed {method}"


def test_every_method_the_code_calls_has_its_scopes_in_the_manifest():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    for method, where in methods_called().items():
        assert method in METHOD_SCOPES, (f"{where} calls {method}: add it to METHOD_SCOPES with the scopes Slack "
                                         f"documents for it, and those scopes to slack-manifest.yaml")
        missing = METHOD_SCOPES[method] - scopes
        assert not missing, f"{where} calls {method}, which needs {sorted(missing)}: add to slack-manifest.yaml"


def test_the_manifest_asks_for_no_scope_nothing_uses():
    data = manifest()
    needed = set().union(*(METHOD_SCOPES[m] for m in methods_called() if m in METHOD_SCOPES))
    events = data["settings"]["event_subscriptions"]["bot_events"]
    for event in events:
        assert event in EVENT_SCOPES, f"the manifest subscribes to {event}: add it to EVENT_SCOPES"
        needed |= EVENT_SCOPES[event]
    for feature, scopes in FEATURE_SCOPES.items():
        if data["features"].get(feature):
            needed |= scopes
    unused = set(data["oauth_config"]["scopes"]["bot"]) - needed
    assert not unused, f"slack-manifest.yaml asks for {sorted(unused)}, which no method or event the code uses needs"
