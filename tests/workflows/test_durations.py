"""One duration grammar: settings, config files and command-line flags all read durations the same way."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError
from workflows.durations import DurationError, parse_duration, parse_seconds
from workflows.report import ReportError, parse_since
from workflows.teams import parse_duration as sla_duration

H, D = timedelta(hours=1), timedelta(days=1)


@pytest.mark.parametrize("text, expected", [
    ("90s", timedelta(seconds=90)), ("90m", timedelta(minutes=90)), ("12h", 12 * H), ("1d12h", 36 * H),
    ("2w", 14 * D), ("1w2d", 9 * D), ("1h30m", 90 * timedelta(minutes=1)), ("1d2h3m4s", D + 2 * H + timedelta(seconds=184)),
    (" 30D ", 30 * D), ("0h15m", timedelta(minutes=15)),
])
def test_the_grammar(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text, why", [
    ("", "use whole numbers with units w, d, h, m, s"), ("90", "use whole numbers"), ("h", "use whole numbers"),
    ("1.5h", "use whole numbers"), ("1h 30m", "use whole numbers"), ("12h1d", "from largest to smallest"),
    ("1h1h", "from largest to smallest"), ("3y", "unknown unit 'y'"), ("0d", "must be more than zero"),
    ("0h0m", "must be more than zero"), (None, "bad duration None"), (15, "bad duration 15"),
])
def test_mistakes_say_what_to_write(text, why):
    with pytest.raises(DurationError, match=why):
        parse_duration(text)


def test_a_context_may_narrow_the_units_and_say_how_long_a_day_is():
    working_day = timedelta(hours=8)
    assert sla_duration("1d4h", working_day) == 12 * H
    with pytest.raises(ValueError, match="'w' is not a unit here.*e.g. 90m, 12h, 1d12h"):
        sla_duration("1w", working_day)


def test_seconds_take_a_plain_number_or_a_duration():
    assert parse_seconds("2") == 2 and parse_seconds("0.5") == 0.5 and parse_seconds("2m") == 120
    with pytest.raises(DurationError, match="expected a number of seconds or a duration"):
        parse_seconds("soon")


def test_settings_read_seconds_in_the_grammar():
    settings = Settings.from_env({"ITBOT_OUTBOX_LEASE": "2m", "ITBOT_WORKER_POLL": "1s",
                                  "ITBOT_HTTP_TIMEOUT": "15"}, require_slack=False)
    assert (settings.outbox_lease, settings.worker_poll, settings.http_timeout) == (120, 1, 15)
    with pytest.raises(SettingsError, match="^ITBOT_OUTBOX_LEASE is malformed: bad ITBOT_OUTBOX_LEASE '2 min'"):
        Settings.from_env({"ITBOT_OUTBOX_LEASE": "2 min"}, require_slack=False)
    with pytest.raises(SettingsError, match="ITBOT_OUTBOX_LEASE is out of range: expected 1–3600 seconds, got 7200"):
        Settings.from_env({"ITBOT_OUTBOX_LEASE": "2h"}, require_slack=False)


def test_report_since_takes_the_grammar():
    now = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    assert parse_since("1d12h", now) == now - 36 * H
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    with pytest.raises(ReportError, match="^--since '12h1d': units go from largest to smallest"):
        parse_since("12h1d", now)


def test_approvals_expire_after_takes_the_grammar(tmp_path):
    import shutil

    from workflows.config import ConfigError
    from workflows.run_policy import load_run_policy
    from workflows.teams import load_teams
    repo_config = Path(__file__).resolve().parents[2] / "config"
    shutil.copytree(repo_config, tmp_path / "config")
    path = tmp_path / "config" / "approvals.yaml"
    teams = load_teams(tmp_path / "config")
    path.write_text(path.read_text().replace("expire_after: 24h", "expire_after: 1d12h"))
    assert load_run_policy(tmp_path / "config", teams).expire_after == 36 * H
    path.write_text(path.read_text().replace("expire_after: 1d12h", "expire_after: 36"))
    with pytest.raises(ConfigError, match="approvals.yaml:.*bad expire_after '36'"):
        load_run_policy(tmp_path / "config", teams)
