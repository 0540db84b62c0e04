"""`itbot check-config`: holiday calendars that run out are warned about; unknown countries are errors."""
from __future__ import annotations

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


def test_the_shipped_config_has_no_warnings(config, capsys):
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"config in {config} is valid") and err == ""


def test_a_calendar_of_dates_ending_within_60_days_is_a_warning(config, capsys):
    last = date.today() + timedelta(days=25)
    replace_in_teams(config, COMPANY_CALENDAR + "  subdivision: ENG\n  extra: []",
                     f"holidays: [{date.today().isoformat()}, {last.isoformat()}]")
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"config in {config} is valid")
    warned = [line for line in err.splitlines() if line.startswith(f"itbot: warning: {config / 'teams.yaml'}: team ")]
    assert len(warned) == 5 and len(err.splitlines()) == 5  # every team but the 24x7 security desk
    assert warned[0] == (f"itbot: warning: {config / 'teams.yaml'}: team 'helpdesk_l1': its holidays end on "
                         f"{last.isoformat()}; after that its SLA clock counts public holidays as working days "
                         "(set holidays: {country: GB, subdivision: ENG} to have them for every year)")


def test_an_unknown_country_is_an_error_with_file_and_line(config, capsys):
    replace_in_teams(config, COMPANY_CALENDAR, COMPANY_CALENDAR.replace("country: GB", "country: UKX"))
    assert main(["check-config"]) == 2
    _, err = capsys.readouterr()
    line = (config / "teams.yaml").read_text().splitlines().index("  country: UKX") + 1
    assert err == (f"itbot: error: {config / 'teams.yaml'}:{line}: company holidays: unknown holiday country "
                   "'UKX' (use an ISO 3166 code such as GB, US, DE)\n")
