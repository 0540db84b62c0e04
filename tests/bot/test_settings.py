"""Start-up configuration: one clear line for a missing or malformed setting, nothing half-started."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Secret, Settings, SettingsError
from workflows.config import ConfigError

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef"}
REPO = Path(__file__).resolve().parents[2]


def _run_serve(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL", "PORT", "ITBOT_"))}
    return subprocess.run([sys.executable, "-m", "bot", "serve"], env={**clean, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_serve_without_bot_token_fails_with_one_line_naming_it():
    result = _run_serve({"SLACK_SIGNING_SECRET": GOOD["SLACK_SIGNING_SECRET"]})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLACK_BOT_TOKEN is not set" in lines[0]


def test_serve_with_a_malformed_port_names_the_variable():
    result = _run_serve({**GOOD, "PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip() == "itbot: error: PORT is malformed: expected a whole number, got 'eighty'"


@pytest.mark.parametrize("env,needle", [
    ({**GOOD, "SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN is malformed"),
    ({"SLACK_BOT_TOKEN": GOOD["SLACK_BOT_TOKEN"]}, "SLACK_SIGNING_SECRET is not set"),
    ({**GOOD, "SLACK_SIGNING_SECRET": "not a secret!"}, "SLACK_SIGNING_SECRET is malformed"),
    ({**GOOD, "SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN is malformed"),
    ({**GOOD, "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL is malformed"),
    ({**GOOD, "PORT": "70000"}, "PORT is out of range"),
    ({**GOOD, "SLACK_API_URL": "ftp://proxy"}, "SLACK_API_URL is malformed"),
    ({**GOOD, "LOG_LEVEL": "chatty"}, "LOG_LEVEL is malformed"),
])
def test_each_bad_setting_is_named(env, needle):
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)


def test_socket_mode_needs_no_signing_secret_and_defaults_are_sensible():
    s = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-A-2-abc"})
    assert s.socket_mode and s.slack_signing_secret is None
    assert s.database_url == "sqlite:///itbot.db" and s.port == 3000
    assert s.slack_api_url == "https://slack.com/api/"


def test_slack_api_url_is_a_setting_for_proxies_and_test_doubles():
    s = Settings.from_env({**GOOD, "SLACK_API_URL": "http://127.0.0.1:9999/api"})
    assert s.slack_api_url == "http://127.0.0.1:9999/api/"


def test_secrets_never_show_in_repr():
    s = Settings.from_env(GOOD)
    assert "xoxb-1-2-abc" not in repr(s) and GOOD["SLACK_SIGNING_SECRET"] not in repr(s)
    assert s.slack_bot_token == Secret("xoxb-1-2-abc")


def _config_dir(tmp_path: Path, text: str) -> Path:
    (tmp_path / "itbot.yaml").write_text(text)
    return tmp_path


def test_malformed_yaml_names_file_and_line(tmp_path):
    d = _config_dir(tmp_path, "company: Example\nbot_name: [unclosed\ndefault_timezone: UTC\n")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**GOOD, "ITBOT_CONFIG_DIR": str(d)})
    assert str(err.value).startswith(f"{d / 'itbot.yaml'}:3: invalid YAML")


def test_unknown_key_and_bad_time_zone_name_their_line(tmp_path):
    d = _config_dir(tmp_path, "company: Example\ncompnay: typo\n")
    with pytest.raises(ConfigError, match=r"itbot.yaml:2: unknown key 'compnay'"):
        Settings.from_env({**GOOD, "ITBOT_CONFIG_DIR": str(d)})
    d = _config_dir(tmp_path, "company: Example\ndefault_timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match=r"itbot.yaml:2: unknown time zone 'Mars/Olympus'"):
        Settings.from_env({**GOOD, "ITBOT_CONFIG_DIR": str(d)})


def test_missing_config_dir_is_named():
    with pytest.raises(SettingsError, match="ITBOT_CONFIG_DIR=/nonexistent is not a directory"):
        Settings.from_env({**GOOD, "ITBOT_CONFIG_DIR": "/nonexistent"})


def test_serve_on_a_port_in_use_is_one_line_naming_host_and_port(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_serve({**GOOD, "HOST": "127.0.0.1", "PORT": str(port),
                             "DATABASE_URL": f"sqlite:///{tmp_path / 'itbot.db'}",
                             "ITBOT_SPOOL_PATH": str(tmp_path / "spool.db")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        f"itbot: error: cannot listen on HOST=127.0.0.1 PORT={port}: Address already in use"


def test_a_sqlite_database_in_a_missing_directory_is_one_line(tmp_path):
    result = _run_serve({**GOOD, "DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'itbot.db'}"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot open the database" in result.stderr and "No such file or directory" in result.stderr


def test_the_event_spool_path_is_a_setting_and_its_directory_must_exist(tmp_path):
    assert Settings.from_env(GOOD).spool_path == "itbot-spool.db"
    assert Settings.from_env({**GOOD, "ITBOT_SPOOL_PATH": str(tmp_path / "s.db")}).spool_path == str(tmp_path / "s.db")
    with pytest.raises(SettingsError, match="ITBOT_SPOOL_PATH=.*does not exist"):
        Settings.from_env({**GOOD, "ITBOT_SPOOL_PATH": str(tmp_path / "missing" / "s.db")})
    with pytest.raises(SettingsError, match="ITBOT_SPOOL_PATH=.* is a directory"):
        Settings.from_env({**GOOD, "ITBOT_SPOOL_PATH": str(tmp_path)})
