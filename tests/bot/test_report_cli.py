"""`itbot report` through bot.report_cli.run_report, on the seeded SQLite store of the workflow tests."""
from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace

import pytest

from bot.report_cli import bar_chart, run_report
from connectors.store import build_store
from tests.workflows.test_report import CONFIG, NOW, _request, at, seed  # noqa: F401


@pytest.fixture
def settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'itbot.db'}"
    store = build_store(url)
    seed(store)
    store.close()
    return SimpleNamespace(database_url=url, config_dir=CONFIG)


def report(argv, settings):
    out, err = io.StringIO(), io.StringIO()
    code = run_report(argv, out, settings=settings, now=NOW, err=err)
    return code, out.getvalue(), err.getvalue()


def test_text_report_is_a_readable_table(settings):
    code, out, err = report(["--since", "30d"], settings)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "IT report, 2026-01-31 12:00 to 2026-03-02 12:00 UTC"
    assert "Requests opened: 6" in lines
    assert re.search(r"^IT help desk\s+0\s+1\s+1\s+1\s+3$", out, re.M)
    assert re.search(r"^all teams\s+2\s+1\s+1\s+2\s+6$", out, re.M)
    assert re.search(r"^all teams\s+4\s+20m\s+2h 00m\s+3\s+4h 00m\s+20h 00m$", out, re.M)  # business hours
    assert "Response and resolution times, in business hours" in lines
    assert "SLA breaches: 3 (IT-00002, IT-00003, IT-00005)" in lines
    assert "Deflection: 20% = 2 solved / (4 answered questions + 6 requests opened)" in lines
    assert "     3  PRINTER on floor 3 jammed" in lines
    assert "  steps automated: 5 of 7 done steps (71%)" in lines


def test_json_is_one_object_with_stable_keys(settings):
    code, out, _ = report(["--since", "30d", "--json"], settings)
    data = json.loads(out)
    assert code == 0
    assert data["window"] == {"since": "2026-01-31T12:00:00+00:00", "until": "2026-03-02T12:00:00+00:00"}
    assert data["requests"]["by_team"] == {"helpdesk_l1": 3, "msp": 1, "security": 2}
    assert data["resolution"]["overall"] == {"count": 3, "median_seconds": 14400, "p90_seconds": 72000}
    assert data["sla"]["breached"] == 3
    assert data["deflection"]["rate"] == 0.2
    assert data["onboarding"]["lead_time"]["median_seconds"] == 5 * 86400 + 12 * 3600


def test_a_shorter_window_counts_less(settings):
    code, out, _ = report(["--since", "2026-03-01", "--json"], settings)
    data = json.loads(out)
    assert code == 0 and data["requests"]["total"] == 3 and data["requests"]["by_team"] == {"helpdesk_l1": 1,
                                                                                              "security": 2}


@pytest.mark.parametrize("since", ["30", "yesterday", "0d", "2030-01-01"])
def test_a_bad_since_is_one_line_and_exit_2(settings, since):
    code, out, err = report(["--since", since], settings)
    assert code == 2 and out == ""
    assert err.startswith("itbot: error: --since") and err.count("\n") == 1


def test_html_page_is_self_contained_with_charts(settings, tmp_path):
    page = tmp_path / "report.html"
    code, out, _ = report(["--html", str(page)], settings)
    html = page.read_text(encoding="utf-8")
    assert code == 0 and out.rstrip().endswith(f"report page written to {page.resolve()}")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    # bars: 3 teams, 4 priorities, 3 + 3 teams' medians (the MSP's empty), 2 unanswered questions, 2 gaps
    assert html.count("<svg") == 6 and html.count("<rect") == 3 + 4 + 3 + 3 + 2 + 2
    assert "Knowledge gaps" in html
    assert "Requests by team" in html and "Median time to resolution by team" in html
    assert "IT-00002, IT-00003, IT-00005" in html


def test_html_with_json_keeps_stdout_pure_json(settings, tmp_path):
    page = tmp_path / "r.html"
    code, out, err = report(["--json", "--html", str(page)], settings)
    assert code == 0 and json.loads(out)["requests"]["total"] == 6 and str(page.resolve()) in err


def test_unwritable_html_file_is_an_error(settings, tmp_path):
    code, _, err = report(["--html", str(tmp_path / "missing" / "r.html")], settings)
    assert code == 2 and err.startswith("itbot: error: cannot write")


def test_question_text_is_escaped_in_the_page(tmp_path, settings):
    from connectors.store import build_store as open_store
    from workflows.models import AnswerRecord

    store = open_store(settings.database_url)
    store.record_answer(AnswerRecord(user_slack_id="U1", question="<img src=x onerror=alert(1)>", intent="question",
                                     topic="other", outcome="no_answer"))
    store.close()
    page = tmp_path / "p.html"
    report(["--since", "12h", "--html", str(page)], settings)   # the answer's time is now, not NOW
    assert "<img" not in page.read_text(encoding="utf-8")


def test_settings_come_from_the_environment(tmp_path, monkeypatch, settings):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ITBOT_CONFIG_DIR", str(CONFIG))
    out = io.StringIO()
    assert run_report(["--json"], out, now=NOW) == 0
    assert json.loads(out.getvalue())["requests"]["total"] == 6


def test_bar_geometry_scales_to_the_longest_bar():
    chart = bar_chart("t", [("a", 2, "2"), ("b", 4, "4"), ("c", 0, "0")])
    assert [b["width"] for b in chart["bars"]] == [190.0, 380.0, 0]
    assert [b["y"] for b in chart["bars"]] == [0, 30, 60] and chart["height"] == 90


def test_a_weekend_is_not_counted_and_text_json_and_html_agree(tmp_path):
    """Opened Friday 17:55, answered Monday 08:05, resolved 09:05: 10m and 1h 10m of the help desk's 08:00-18:00
    (London, on GMT), not 62 hours."""
    url = f"sqlite:///{tmp_path / 'weekend.db'}"
    store = build_store(url)
    _request(store, "helpdesk_l1", "P3", at(2, 27, 17, 55), status="resolved", first=at(3, 2, 8, 5),
             resolved=at(3, 2, 9, 5))
    store.close()
    settings, page = SimpleNamespace(database_url=url, config_dir=CONFIG), tmp_path / "weekend.html"

    _, text, _ = report(["--since", "7d", "--html", str(page)], settings)
    _, out, _ = report(["--since", "7d", "--json"], settings)
    data, html = json.loads(out), page.read_text(encoding="utf-8")

    assert re.search(r"^IT help desk\s+1\s+10m\s+10m\s+1\s+1h 10m\s+1h 10m$", text, re.M)
    assert data["first_response"]["by_team"]["helpdesk_l1"] == {"count": 1, "median_seconds": 600, "p90_seconds": 600}
    assert data["resolution"]["overall"] == {"count": 1, "median_seconds": 4200, "p90_seconds": 4200}
    assert data["first_response"]["measured_in"] == "business_hours"
    assert "<b>10m</b>median first response, business hours" in html
    assert "<b>1h 10m</b>median resolution, business hours" in html
    assert "<td>IT help desk</td><td>1</td><td>10m</td><td>10m</td>" in html
    assert "Median time to first response by team (business hours)" in html
    assert "62h" not in text + html and "2d 14h" not in text + html  # the wall time


def _gap_answer(store, question, outcome, when, user, intent="how_to", topic="account"):
    from connectors.store.tables import answer_log
    from tests.workflows.test_report import _set
    from workflows.models import AnswerRecord
    saved = store.record_answer(AnswerRecord(user_slack_id=user, question=question, intent=intent, topic=topic,
                                             outcome=outcome))
    _set(store, answer_log, saved.id, at=when)


@pytest.fixture
def gap_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'gaps.db'}"
    store = build_store(url)
    _gap_answer(store, "How do I reset my password?", "no_answer", at(2, 20), "U0ANA")
    _gap_answer(store, "Wie kann ich mein Passwort zurücksetzen?", "still_stuck", at(2, 21), "U0KLAUS")
    _gap_answer(store, "reset my password please", "clarify", at(2, 22), "U0ANA")
    _gap_answer(store, "password reset", "solved", at(2, 23), "U0BEN")           # answered: not a gap
    _gap_answer(store, "the wifi in the lobby keeps dropping", "no_answer", at(2, 24), "U0BEN", "broken", "network")
    _gap_answer(store, "an old password question", "no_answer", at(1, 10), "U0BEN")  # before the window
    store.close()
    return SimpleNamespace(database_url=url, config_dir=CONFIG)


def test_json_groups_unanswered_questions_into_knowledge_gaps_by_team(gap_settings):
    code, out, _ = report(["--since", "30d", "--json"], gap_settings)
    data = json.loads(out)
    assert code == 0 and "top_unanswered" in data, "kept for compatibility"
    gaps = data["knowledge_gaps"]
    assert [(g["team"], g["count"], g["askers"]) for g in gaps] == [("helpdesk_l1", 3, 2), ("msp", 1, 1)]
    first = gaps[0]
    assert set(first) == {"team", "question", "count", "askers", "examples", "last_asked"}
    assert first["last_asked"] == "2026-02-22T09:00:00+00:00"
    assert {first["question"], *first["examples"]} == {"How do I reset my password?",
                                                       "Wie kann ich mein Passwort zurücksetzen?",
                                                       "reset my password please"}
    assert gaps[1]["question"] == "the wifi in the lobby keeps dropping"


def test_text_report_lists_gaps_by_team_biggest_first(gap_settings):
    code, out, _ = report(["--since", "30d"], gap_settings)
    block = out.split("Knowledge gaps by team")[1]
    assert code == 0 and block.index("IT help desk") < block.index("3×") < block.index("1×")
    assert "(2 askers, last 2026-02-22)" in block
