"""config/approvals.yaml: who may start runs, who approves account changes, and for how long."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from workflows.config import ConfigError, load_yaml, require_mapping
from workflows.durations import DurationError, parse_duration
from workflows.teams import TeamDirectory

_KEYS = ("hr", "it_approvers", "security_team", "expire_after", "progress_channel", "approvals_channel")
_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class RunPolicy:
    hr: frozenset[str]
    it_approvers: frozenset[str]
    security_team: str
    expire_after: timedelta
    progress_channel: str
    approvals_channel: str

    def may_start(self, user: str) -> bool:
        return user in self.hr


def load_run_policy(config_dir: Path | str, teams: TeamDirectory) -> RunPolicy:
    path = Path(config_dir) / "approvals.yaml"
    data = require_mapping(load_yaml(path), path, "approvals.yaml")
    for key in data:
        if key not in _KEYS:
            raise ConfigError(path, data.line_of(key), f"unknown key {key!r} (known: {', '.join(_KEYS)})")
    for key in _KEYS:
        if key not in data:
            raise ConfigError(path, data.line, f"missing key {key!r}")
    users = {}
    for key in ("hr", "it_approvers"):
        value = data[key]
        if not isinstance(value, list) or not value or not all(isinstance(u, str) and _USER.match(u) for u in value):
            raise ConfigError(path, data.line_of(key), f"{key} must be a non-empty list of Slack user ids (U…)")
        users[key] = frozenset(value)
    try:
        teams.team(str(data["security_team"]))
    except KeyError:
        raise ConfigError(path, data.line_of("security_team"), f"unknown team {data['security_team']!r}") from None
    try:
        expire = parse_duration(str(data["expire_after"]), what="expire_after")
    except DurationError as exc:
        raise ConfigError(path, data.line_of("expire_after"), str(exc)) from None
    channels = {}
    for key in ("progress_channel", "approvals_channel"):
        channel = data[key]
        if not isinstance(channel, str) or not re.fullmatch(r"[CG][A-Z0-9]{2,}", channel):
            raise ConfigError(path, data.line_of(key), f"{key} must be a Slack channel id (C…)")
        channels[key] = channel
    return RunPolicy(users["hr"], users["it_approvers"], str(data["security_team"]), expire,
                     channels["progress_channel"], channels["approvals_channel"])
