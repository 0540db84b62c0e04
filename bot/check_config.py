"""`itbot check-config`: every mistake in the environment and config/ at once, the example Slack ids of the
shipped sample config still in use, and whether Slack takes the bot token.

Example ids: the shipped config/ is a sample that runs the demo; its people and channels have made-up Slack
ids (U0IT2, U0CIO, C0HELPDESK1: a U, W, C or G, the digit 0, then capitals and digits). An **example id** is
exactly one of the ids of that shape that the shipped sample config itself contains (read from the packaged
copy, so it is the same list the wheel ships); a real Slack id is never one of them. Each file that still has
some gets one warning with their lines.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Mapping

from bot.settings import _PACKAGED_CONFIG, Settings, SettingsError, config_dir_from_env
from workflows.config import ConfigError

_EXAMPLE_SHAPE = re.compile(r"\b[UWCG]0[A-Z0-9]+\b")
_SLACK_ID = re.compile(r"\b[UWCG][A-Z0-9]{2,}\b")
_CONFIG_FILES = ("*.yaml", "checklists/*.yaml")


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def attempt(self, check: Callable[[], Any], default: Any = None) -> Any:
        """Run one check; a mistake is recorded (every one, each on its own line) and ``default`` returned."""
        try:
            return check()
        except (SettingsError, ConfigError) as exc:
            self.errors.extend(str(e) for e in getattr(exc, "problems", [exc]))
            return default


def example_ids(sample: Path = _PACKAGED_CONFIG) -> frozenset[str]:
    """The made-up Slack ids of the shipped sample config (see the module doc)."""
    found: set[str] = set()
    for pattern in _CONFIG_FILES:
        for path in sample.glob(pattern):
            found.update(_EXAMPLE_SHAPE.findall(path.read_text(encoding="utf-8")))
    return frozenset(found)


def example_id_warnings(config_dir: Path, examples: frozenset[str]) -> list[str]:
    warnings = []
    for pattern in _CONFIG_FILES:
        for path in sorted(config_dir.glob(pattern)):
            where = []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                text = line.split("#", 1)[0]
                where += [(number, found) for found in _SLACK_ID.findall(text) if found in examples]
            if where:
                ids = sorted({found for _, found in where})
                lines = ", ".join(str(n) for n in sorted({n for n, _ in where}))
                warnings.append(f"{path}:{where[0][0]}: {len(where)} example Slack id(s) of the shipped sample "
                                f"config ({', '.join(ids)}) on line(s) {lines}: replace them with your "
                                f"workspace's (a person's profile → ⋯ → Copy member ID; a channel's details)")
    return warnings


def check_config_files(config_dir: Path, findings: Findings) -> dict[str, Any]:
    """Load every file of config/ on its own, so each file's mistake is reported; a file that others depend on
    (teams.yaml) failing leaves those unchecked, and says so."""
    from workflows.checklist import load_checklists
    from workflows.digest import load_reminder_policy
    from workflows.naming import load_naming
    from workflows.routing import load_routing
    from workflows.run_policy import load_run_policy
    from workflows.teams import load_teams
    from workflows.triage import KnowledgeBase, TriageModel

    loaded: dict[str, Any] = {
        "teams": findings.attempt(lambda: load_teams(config_dir)),
        "model": findings.attempt(lambda: TriageModel.from_config(config_dir)),
        "kb": findings.attempt(lambda: KnowledgeBase.from_dir(config_dir / "kb")),
        "naming": findings.attempt(lambda: load_naming(config_dir)),
        "reminders": findings.attempt(lambda: load_reminder_policy(config_dir)),
    }
    teams = loaded["teams"]
    if teams is None:
        findings.notes.append("routing.yaml, approvals.yaml and checklists/ were not checked: they name teams, "
                              "and teams.yaml has a mistake")
        return loaded
    loaded["routing"] = findings.attempt(lambda: load_routing(config_dir, teams))
    loaded["checklists"] = findings.attempt(lambda: load_checklists(config_dir, teams))
    loaded["policy"] = findings.attempt(lambda: load_run_policy(config_dir, teams))
    from workflows.teams import CONFIG_FILE as TEAMS_FILE
    findings.warnings += [f"{config_dir / TEAMS_FILE}: {w}" for w in teams.holiday_warnings(date.today())]
    return loaded


def check_slack_token(settings: Settings, findings: Findings) -> None:
    """auth.test with SLACK_BOT_TOKEN against SLACK_API_URL, when a token is set."""
    if settings.slack_bot_token is None:
        findings.notes.append("SLACK_BOT_TOKEN is not set: the token was not checked")
        return
    from slack_sdk.errors import SlackApiError

    from bot.app import make_client
    try:
        info = make_client(settings).auth_test()
    except SlackApiError as exc:
        findings.errors.append(f"SLACK_BOT_TOKEN was refused by Slack ({settings.slack_api_url}auth.test: "
                               f"{exc.response.get('error', exc.response.status_code)}): copy the Bot User OAuth "
                               f"Token again from your Slack app's OAuth & Permissions page")
    except Exception as exc:   # the network: a proxy, DNS, a timeout
        findings.errors.append(f"SLACK_BOT_TOKEN could not be checked: {settings.slack_api_url} did not answer "
                               f"({type(exc).__name__}: {exc})")
    else:
        findings.notes.append(f"SLACK_BOT_TOKEN works: bot {info.get('user')} ({info.get('user_id')}) in "
                              f"{info.get('team')} ({info.get('team_id')})")


def check_everything(env: Mapping[str, str] | None = None) -> tuple[Findings, Path, dict[str, Any]]:
    env = os.environ if env is None else env
    findings = Findings()
    settings = findings.attempt(lambda: Settings.from_env(env, require_slack=False))
    config_dir = settings.config_dir if settings else config_dir_from_env(env)
    loaded: dict[str, Any] = {}
    if config_dir.is_dir():
        loaded = check_config_files(config_dir, findings)
        findings.warnings += example_id_warnings(config_dir, example_ids())
    if settings is not None:
        check_slack_token(settings, findings)
    return findings, config_dir, loaded
