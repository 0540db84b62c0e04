"""`itbot check-config`: holiday calendars that run out are warned about; unknown countries are errors."""
from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "config"
COMPANY_CALENDAR = "holidays:  # England and Wales bank holidays, every year, and the company's own days off\n  country: GB\n"


@pytest.fixture
def config(tmp_path, monkeypatch):
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    monkeypatch.setenv("ITBOT_CONFIG_DIR", str(target))
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "LDAP_URL", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    return target


def replace_in_teams(config: Path, old: str, new: str) -> None:
    path = config / "teams.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_config_warns_only_of_its_example_slack_ids(config, capsys):
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"config in {config} is valid")
    assert [line.split(":")[2].strip() for line in err.splitlines()] == [str(config / "approvals.yaml"), str(config / "teams.yaml")]
    assert all("example Slack id(s) of the shipped sample config" in line for line in err.splitlines())


def test_a_calendar_of_dates_ending_within_60_days_is_a_warning(config, capsys):
    last = date.today() + timedelta(days=25)
    replace_in_teams(config, COMPANY_CALENDAR + "  subdivision: ENG\n  extra: []",
                     f"holidays: [{date.today().isoformat()}, {last.isoformat()}]")
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"config in {config} is valid")
    warned = [line for line in err.splitlines() if line.startswith(f"itbot: warning: {config / 'teams.yaml'}: team ")]
    assert len(warned) == 5  # every team but the 24x7 security desk
    assert warned[0] == (f"itbot: warning: {config / 'teams.yaml'}: team 'helpdesk_l1': its holidays end on "
                         f"{last.isoformat()}; after that its SLA clock counts public holidays as working days "
                         "(set holidays: {country: GB, subdivision: ENG} to have them for every year)")


def test_an_unknown_country_is_an_error_with_file_and_line(config, capsys):
    replace_in_teams(config, COMPANY_CALENDAR, COMPANY_CALENDAR.replace("country: GB", "country: UKX"))
    assert main(["check-config"]) == 2
    _, err = capsys.readouterr()
    line = (config / "teams.yaml").read_text().splitlines().index("  country: UKX") + 1
    errors = [line for line in err.splitlines() if line.startswith("itbot: error:")]
    assert errors == [f"itbot: error: {config / 'teams.yaml'}:{line}: company holidays: unknown holiday country "
                      "'UKX' (use an ISO 3166 code such as GB, US, DE)"]


def test_every_mistake_is_reported_at_once(config, capsys, monkeypatch):
    monkeypatch.setenv("PORT", "eighty")
    monkeypatch.setenv("ITBOT_OUTBOX_LEASE", "2 min")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    approvals = config / "approvals.yaml"
    approvals.write_text(approvals.read_text().replace("expire_after: 24h", "expire_after: soon"))
    naming = config / "naming.yaml"
    naming.write_text(naming.read_text() + "\nno_such_key: 1\n")
    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("itbot: error:")]
    assert out == ""
    assert len(errors) == 5, err
    for expected in ("PORT is malformed", "ITBOT_OUTBOX_LEASE is malformed", "LOG_LEVEL is malformed",
                     f"{approvals}:", f"{naming}:"):
        assert any(expected in line for line in errors), (expected, err)


def test_example_ids_are_the_shipped_configs_own_and_only_those(config, capsys):
    from bot.check_config import example_ids
    examples = example_ids()
    assert {"U0IT2", "U0CIO", "C0HELPDESK1", "C0ITAPPROVALS"} <= examples
    assert not any(e in examples for e in ("U024BE7LH", "C0123ABCDEF", "CRM", "SSPR"))
    for name in ("approvals.yaml", "teams.yaml"):   # a workspace's own ids: no warning
        path = config / name
        text = path.read_text()
        for example in sorted(examples, key=len, reverse=True):
            text = re.sub(rf"\b{example}\b", f"{example[0]}07{len(example)}ZZQ9R", text)
        path.write_text(text)
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(f"config in {config} is valid")


def test_the_bot_token_is_tried_against_slack_api_url(config, capsys, monkeypatch):
    from bot.devtools.fake_slack import FakeSlack
    with FakeSlack(bot_token="xoxb-itbot-check-0001") as fake:
        monkeypatch.setenv("SLACK_API_URL", fake.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-itbot-check-0001")
        assert main(["check-config"]) == 0
        out, _ = capsys.readouterr()
        assert "itbot: SLACK_BOT_TOKEN works: bot itbot (U0ITBOT) in Example (T0ITBOT)" in out
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-itbot-revoked-0002")
        assert main(["check-config"]) == 2
        out, err = capsys.readouterr()
        assert out == "" and f"itbot: error: SLACK_BOT_TOKEN was refused by Slack ({fake.url}" in err
        assert "auth.test: invalid_auth)" in err
        assert [c.method for c in fake.calls] == ["auth.test", "auth.test"]
