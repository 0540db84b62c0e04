"""Knowledge base: the shipped articles, finding the right one, and clear errors for bad files."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from workflows.config import ConfigError
from workflows.triage import TOPICS, KnowledgeBase, KnowledgeBaseError, TriageConfigError
from workflows.triage.knowledge import load_article

CONFIG = Path(__file__).resolve().parents[2] / "config"
KB_DIR = CONFIG / "kb"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_dir(KB_DIR)


# ------------------------------------------------------------------ the shipped articles

def test_knowledge_base_has_enough_articles(kb):
    assert len(kb) >= 28
    assert len({a.id for a in kb}) == len(kb)


def test_every_article_uses_known_topics_and_every_topic_is_covered(kb):
    covered = set()
    for article in kb:
        assert set(article.topics) <= set(TOPICS), article.id
        covered.update(article.topics)
    assert set(TOPICS) - {"other"} <= covered


def test_every_article_belongs_to_a_team_that_exists(kb):
    teams_file = CONFIG / "teams.yaml"
    if not teams_file.is_file():
        pytest.skip("config/teams.yaml not present")
    teams = set(yaml.safe_load(teams_file.read_text(encoding="utf-8"))["teams"])
    assert {a.id: a.team for a in kb if a.team not in teams} == {}


@pytest.mark.parametrize("path", sorted(KB_DIR.glob("*.md")), ids=lambda p: p.name)
def test_article_is_practical_and_says_when_to_ask_it(path):
    article = load_article(path)
    words = len(article.body.split())
    assert 80 <= words <= 300, f"{path.name}: {words} words"
    assert re.search(r"\b(ask|tell) it\b", article.body, re.IGNORECASE), f"{path.name} never says when to ask IT"
    assert article.keywords and article.title


def test_article_id_defaults_to_the_file_name(kb):
    assert kb.get("vpn-setup").path.name == "vpn-setup.md"
    assert kb.get("no-such-article") is None


# ------------------------------------------------------------------ best_match

@pytest.mark.parametrize("question, topic, article_id", [
    ("I forgot my password, how can I reset it myself?", "account", "account-password-reset"),
    ("how do I add the authenticator app to my phone", "mfa", "mfa-authenticator-setup"),
    ("getting a new phone next week - how do I move my mfa over?", "mfa", "mfa-new-phone"),
    ("how do I turn on automatic replies while I'm on holiday", "email", "email-out-of-office"),
    ("how do I install globalprotect", "vpn", "vpn-setup"),
    ("how do I add the office printer on my mac", "printer", "printer-add-mac"),
    ("how do I scan a contract and email it to myself", "printer", "printer-scan-to-email"),
    ("how do I get back a file I deleted from onedrive", "backup", "backup-onedrive-restore"),
    ("laptop asks for a bitlocker recovery key when it boots", "security", "security-bitlocker-recovery"),
    ("how do I report a phishing email", "security", "security-report-phishing"),
    ("how do I request access to the finance sharepoint site", "access", "access-sharepoint-site"),
    ("how do I set up two monitors on my dock", "hardware", "hardware-docking-monitors"),
    ("how do I enrol my iphone in company portal", "mobile", "mobile-intune-enrollment"),
    ("nobody can hear me in teams, how do I pick my headset microphone", "meetings", "meetings-teams-audio-video"),
])
def test_best_match_finds_the_obvious_article(kb, question, topic, article_id):
    match = kb.best_match(question, topic)
    assert match is not None and match.article.id == article_id, match
    assert 0.35 <= match.score <= 1.0


def test_best_match_tolerates_typos(kb):
    match = kb.best_match("how do i ad a printr on my macbok", "printer")
    assert match is not None and match.article.id == "printer-add-mac"


def test_best_match_without_overlap_is_none_or_weak(kb):
    assert kb.best_match("", "other") is None
    assert kb.best_match("the the and of", None) is None
    weak = kb.best_match("how do I claim travel expenses for the conference dinner", "other")
    assert weak is None or weak.score < 0.35


def test_long_articles_are_indexed_to_the_end(tmp_path):
    long_body = "Some general words about printers. " * 120 + "Finally, the quokkascanner needs a reboot."
    kb = KnowledgeBase.from_dir(_kb_with(tmp_path, GOOD.replace("Some helpful words about printers.", long_body)))
    match = kb.best_match("quokkascanner", None)
    assert match is not None and match.article.id == "article"


def test_articles_outside_the_topic_are_discounted(kb):
    on_topic = kb.best_match("set up globalprotect vpn", "vpn")
    off_topic = kb.best_match("set up globalprotect vpn", "printer")
    assert on_topic.article.id == off_topic.article.id == "vpn-setup"
    assert off_topic.score < on_topic.score


# ------------------------------------------------------------------ bad files

GOOD = """---
title: A good article
topics: [printer]
keywords: [printer, toner]
team: helpdesk_l1
---
Some helpful words about printers. Ask IT if it still fails.
"""


def _kb_with(tmp_path: Path, text: str, name: str = "article.md") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_good_article_loads(tmp_path):
    kb = KnowledgeBase.from_dir(_kb_with(tmp_path, GOOD))
    (article,) = kb.articles
    assert (article.id, article.topics, article.team) == ("article", ("printer",), "helpdesk_l1")
    assert article.body.startswith("Some helpful words")


@pytest.mark.parametrize("text, line, message", [
    (GOOD.replace("title: A good article\n", ""), 2, "field 'title' is missing"),
    (GOOD.replace("topics: [printer]", "topics: [printers]"), 3, "field 'topics': unknown topic 'printers'"),
    (GOOD.replace("topics: [printer]", "topics: printer"), 3, "field 'topics': must be a list"),
    (GOOD.replace("topics: [printer]", "topics: []"), 3, "field 'topics': needs at least one topic"),
    (GOOD.replace("keywords: [printer, toner]", "keywords: [printer, 7]"), 4, "field 'keywords': must be a list of non-empty strings"),
    (GOOD.replace("team: helpdesk_l1", "team: Help Desk"), 5, "field 'team'"),
    (GOOD.replace("team: helpdesk_l1", "team: helpdesk_l1\nowner: bob"), 6, "field 'owner': unknown field"),
    (GOOD.replace("team: helpdesk_l1", "team: helpdesk_l1\nid: Bad Id"), 6, "field 'id'"),
    (GOOD.replace("title: A good article", "title: [unclosed"), 3, "invalid YAML"),
    (GOOD.replace("---\ntitle", "title", 1), 1, "must start with front matter"),
    (GOOD.rsplit("---\n", 1)[0], 1, "not closed"),
    (GOOD.split("---\n")[0] + "---\n" + GOOD.split("---\n")[1] + "---\n", 6, "body is empty"),
])
def test_bad_front_matter_names_the_file_field_and_line(tmp_path, text, line, message):
    with pytest.raises(KnowledgeBaseError) as err:
        KnowledgeBase.from_dir(_kb_with(tmp_path, text, "broken-article.md"))
    assert message in str(err.value)
    assert err.value.path.endswith("broken-article.md")
    assert err.value.line == line
    assert isinstance(err.value, TriageConfigError) and isinstance(err.value, ConfigError)


def test_duplicate_ids_name_both_files(tmp_path):
    _kb_with(tmp_path, GOOD.replace("team: helpdesk_l1", "team: helpdesk_l1\nid: same"), "a.md")
    _kb_with(tmp_path, GOOD.replace("team: helpdesk_l1", "team: helpdesk_l1\nid: same"), "b.md")
    with pytest.raises(KnowledgeBaseError, match=r"duplicate article id 'same' \(also in .*a\.md\)") as err:
        KnowledgeBase.from_dir(tmp_path)
    assert err.value.path.endswith("b.md")


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(KnowledgeBaseError, match="knowledge base directory not found"):
        KnowledgeBase.from_dir(tmp_path / "nope")
