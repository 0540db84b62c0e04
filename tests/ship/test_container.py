"""The image definition and the compose file follow the README: no network, only parsing."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ROLES = {"web": ["serve"], "worker": ["worker"], "clock": ["clock"]}


def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def readme_variables() -> set[str]:
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (REPO / "README.md").read_text(), re.MULTILINE))


def test_compose_runs_the_three_roles_and_postgresql():
    services = compose()["services"]
    assert set(services) == {*ROLES, "postgres"}
    for role, command in ROLES.items():
        assert services[role]["command"] == command
        assert services[role]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[role]["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_every_variable_compose_sets_is_a_documented_setting():
    documented = readme_variables()
    source = (REPO / "bot" / "settings.py").read_text()
    for role in ROLES:
        for name in compose()["services"][role]["environment"]:
            assert name in documented, f"compose sets {name}, which README's Settings tables do not list"
            assert f'"{name}"' in source, f"compose sets {name}, which Settings.from_env does not read"


def test_compose_environment_is_valid_settings():
    for role in ROLES:
        env = {k: re.sub(r"\$\{[^}]*\}", "", str(v)) for k, v in compose()["services"][role]["environment"].items()}
        env["SLACK_BOT_TOKEN"] = "xoxb-compose-0000"
        env["SLACK_APP_TOKEN"] = "xapp-1-compose"   # Socket Mode: no signing secret needed for this check
        settings = Settings.from_env(env)
        assert settings.database_url.startswith("postgresql://")


def test_the_dockerfile_installs_the_wheel_and_runs_itbot():
    text = (REPO / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith("#")]
    entry = [json.loads(arg) for op, arg in instructions if op == "ENTRYPOINT"]
    cmd = [json.loads(arg) for op, arg in instructions if op == "CMD"]
    assert entry == [["itbot"]] and cmd == [["serve"]]
    assert any(op == "RUN" and "pip wheel" in arg for op, arg in instructions)
    assert any(op == "RUN" and re.search(r"pip install .*itbot-\*\.whl", arg) for op, arg in instructions)
    copied = {src for op, arg in instructions if op == "COPY" and "--from" not in arg for src in arg.split()[:-1]}
    assert {"bot", "workflows", "connectors", "config", "setup.py"} <= copied
    assert "STOPSIGNAL SIGTERM" in text and any(op == "USER" for op, _ in instructions)
