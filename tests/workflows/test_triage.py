"""Triage: intent and topic of employee messages, accuracy floors, robustness, config errors."""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import yaml

from workflows.config import ConfigError
from workflows.triage import (
    INTENTS, TOPICS, KnowledgeBase, TriageConfigError, TriageModel, TriageResult, triage,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"
DEV_SET = Path(__file__).resolve().parents[3] / "shared/eval/triage-dev.jsonl"
HOLDOUT = Path(__file__).resolve().parent / "triage-holdout.jsonl"


@pytest.fixture(scope="module")
def model() -> TriageModel:
    return TriageModel.from_config(CONFIG)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_config(CONFIG)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _accuracy(model: TriageModel, rows: list[dict]) -> tuple[float, float, list[str]]:
    misses, intents, topics = [], 0, 0
    for row in rows:
        got = model.classify(row["text"])
        intents += got.intent == row["intent"]
        topics += got.topic == row["topic"]
        if (got.intent, got.topic) != (row["intent"], row["topic"]):
            misses.append(f"{row['text']!r}: want {row['intent']}/{row['topic']}, got {got.intent}/{got.topic}")
    return intents / len(rows), topics / len(rows), misses


# ------------------------------------------------------------------ representative messages

@pytest.mark.parametrize("text, intent, topic", [
    ("how do i get my new laptop on the staff wifi", "how_to", "network"),
    ("Outlook has been stuck on 'updating inbox' all morning", "broken", "email"),
    ("could someone give me read access to the Q3 forecast folder", "request", "access"),
    ("where do I find the guide for setting up the authenticator", "how_to", "mfa"),
    ("forgot my password and now my account is locked", "broken", "account"),
    ("the globalprotect client won't even start", "broken", "vpn"),
    ("big printer by the kitchen is printing everything in faint grey", "broken", "printer"),
    ("my docking station stopped charging the laptop", "broken", "hardware"),
    ("please order a replacement charger for my macbook", "request", "hardware"),
    ("intune keeps telling me my pixel is out of compliance", "broken", "mobile"),
    ("we need a license for Tableau for two analysts", "request", "software"),
    ("accidentally deleted the Q2 slides from onedrive, can you restore them", "broken", "backup"),
    ("how do I present in the boardroom from my laptop", "how_to", "meetings"),
    ("everyone sounds robotic in my zoom calls", "broken", "meetings"),
    ("is it ok to paste customer data into chatgpt?", "how_to", "security"),
    ("pls install docker desktop on my pc", "request", "software"),
    ("my outlok keeps crashing", "broken", "email"),          # typo
    ("teh printr is jammed agian", "broken", "printer"),       # several typos
    ("HOW DO I CHANGE MY PASSWORD", "how_to", "account"),      # shouting
])
def test_representative_messages_are_understood(model, text, intent, topic):
    got = model.classify(text)
    assert (got.intent, got.topic) == (intent, topic), got


@pytest.mark.parametrize("text", [
    "hi", "Hello!", "good morning team", "thanks a lot", "thank you, sorted now :tada:",
    "cheers 👍", "ok", "what's the canteen serving on friday", "<@U0BOT> hey",
])
def test_greetings_thanks_and_small_talk_are_other(model, text):
    got = model.classify(text)
    assert (got.intent, got.topic) == ("other", "other"), got


# ------------------------------------------------------------------ the security rule

@pytest.mark.parametrize("text", [
    "I lost my laptop on the way home",
    "my work phone was stolen this morning",
    "left my ipad on the train",
    "how do I report that my laptop got stolen?",
    "someone nicked my phone at the station",
    "I clicked on a link in an email from 'Microsoft' and entered my password",
    "oops, just clicked the attachment in that weird invoice email",
    "somebody rang pretending to be IT and asked for my mfa code",
    "I think my account was hacked, there are emails in my sent folder I never wrote",
    "my boss emailed asking me to buy gift cards urgently",
    "ransomware message on my screen, all files renamed",
])
def test_attacks_and_lost_or_stolen_devices_are_broken_security(model, text):
    got = model.classify(text)
    assert (got.intent, got.topic) == ("broken", "security"), got


@pytest.mark.parametrize("text, intent, topic", [
    ("I lost my laptop charger", "broken", "hardware"),
    ("switched phones and lost my authenticator codes", "broken", "mfa"),
    ("how do I report a phishing email", "how_to", "security"),
    ("typed my password wrong too many times and I'm locked out", "broken", "account"),
])
def test_security_rule_does_not_swallow_near_misses(model, text, intent, topic):
    got = model.classify(text)
    assert (got.intent, got.topic) == (intent, topic), got


# ------------------------------------------------------------------ accuracy floors

def test_dev_set_accuracy_floor(model):
    if not DEV_SET.is_file():
        pytest.skip(f"development set not found at {DEV_SET}")
    intent_acc, topic_acc, misses = _accuracy(model, _rows(DEV_SET))
    assert intent_acc >= 0.95 and topic_acc >= 0.90, misses


def test_held_out_accuracy_floor(model):
    rows = _rows(HOLDOUT)
    assert len(rows) >= 60
    intent_acc, topic_acc, misses = _accuracy(model, rows)
    assert intent_acc >= 0.93 and topic_acc >= 0.93, misses


def test_no_evaluation_message_is_used_for_training():
    def fold(text: str) -> str:
        return " ".join(text.casefold().split())

    config = yaml.safe_load((CONFIG / "triage.yaml").read_text(encoding="utf-8"))
    trained = {fold(t) for by_intent in config["examples"].values() for texts in by_intent.values() for t in texts}
    evaluated = [r["text"] for r in _rows(HOLDOUT)] + ([r["text"] for r in _rows(DEV_SET)] if DEV_SET.is_file() else [])
    assert [t for t in evaluated if fold(t) in trained] == []


def test_every_label_has_training_examples():
    config = yaml.safe_load((CONFIG / "triage.yaml").read_text(encoding="utf-8"))
    assert set(config["examples"]) == set(TOPICS)
    intents = {i for by_intent in config["examples"].values() for i in by_intent}
    assert intents == set(INTENTS)


# ------------------------------------------------------------------ odd input and speed

ODD_INPUTS = {
    "empty": "",
    "blank": "   \n\t ",
    "only punctuation": "?!?!...",
    "emoji": "😭😭😭 🔥💻🔥",
    "spanish": "¿Cómo cambio mi contraseña del correo?",
    "german": "Mein Drucker funktioniert nicht",
    "french": "Je n'arrive pas à me connecter au VPN",
    "japanese": "プリンターが動きません。助けてください",
    "cyrillic": "Привет, как дела?",
    "mentions and links": "<@U123ABC> <!here> see <https://intranet.example.com/x|this page> and <#C999|it-help>",
    "40k sentence": "my vpn keeps dropping " * 2000,
    "40k single token": "x" * 40_000,
    "40k japanese": "パスワード" * 8000,
    "40k angle brackets": "<" * 40_000,
    "40k emoji codes": ":smile:" * 6000,
    "control chars": "\x00\x01vpn\x7f\u200b broken",
}


@pytest.mark.parametrize("name", ODD_INPUTS)
def test_odd_input_gives_valid_labels_quickly(model, name):
    text = ODD_INPUTS[name]
    model.classify(text)  # warm
    started = time.perf_counter()
    got = model.classify(text)
    elapsed = time.perf_counter() - started
    assert got.intent in INTENTS and got.topic in TOPICS
    for value in (got.confidence, got.intent_confidence, got.topic_confidence):
        assert 0.0 <= value <= 1.0
    assert elapsed < 0.05, f"{name}: {elapsed * 1000:.1f} ms"


def test_empty_message_is_other_with_no_confidence(model):
    got = model.classify("")
    assert (got.intent, got.topic, got.confidence) == ("other", "other", 0.0)


@pytest.mark.parametrize("text", ["プリンターが動きません", "Привет, как дела?"])
def test_a_language_the_lexicon_does_not_know_is_never_confident(model, text):
    assert model.classify(text).confidence < 0.5


@pytest.mark.parametrize("text, intent, topic", [
    ("Mein Drucker funktioniert nicht", "broken", "printer"),
    ("Comment réinitialiser mon mot de passe ?", "how_to", "account"),
    ("¿Cómo configuro la VPN en casa?", "how_to", "vpn"),
    ("Como adiciono uma impressora?", "how_to", "printer"),
])
def test_the_company_languages_are_read_through_the_lexicon(model, text, intent, topic):
    got = model.classify(text)
    assert (got.intent, got.topic) == (intent, topic)


@pytest.mark.parametrize("text, topic", [
    ("Mi impresora no funciona", "printer"),
    ("¿Cómo conecto la vpn", "vpn"),           # accented text still matches a cue at its end
])
def test_foreign_language_with_known_words_gets_a_sensible_topic(model, text, topic):
    assert model.classify(text).topic == topic


def test_slack_markup_is_stripped_before_classifying(model):
    plain = model.classify("the vpn is down")
    marked = model.classify("<@U0ABCDEF> the <https://vpn.example.com|vpn> is down :rage: <!channel>")
    assert (marked.intent, marked.topic) == (plain.intent, plain.topic) == ("broken", "vpn")


def test_a_long_paste_is_judged_by_its_opening(model):
    got = model.classify("printer on floor 3 is jammed. log follows:\n" + "0x00ff 0x1234 spool ok\n" * 2000)
    assert (got.intent, got.topic) == ("broken", "printer")


def test_classification_is_frozen_and_confidence_is_the_weaker_label(model):
    got = model.classify("how do I share my calendar with my assistant")
    assert got.confidence == min(got.intent_confidence, got.topic_confidence)
    with pytest.raises(FrozenInstanceError):
        got.intent = "broken"  # type: ignore[misc]


def test_classify_takes_under_5ms_per_message(model):
    texts = [r["text"] for r in _rows(HOLDOUT)]
    if DEV_SET.is_file():
        texts += [r["text"] for r in _rows(DEV_SET)]
    timings = []
    for text in texts:
        best = float("inf")
        for _ in range(3):  # best of three, so a busy CI machine does not decide the result
            started = time.perf_counter()
            model.classify(text)
            best = min(best, time.perf_counter() - started)
        timings.append(best)
    timings.sort()
    assert statistics.mean(timings) < 0.005
    assert timings[int(len(timings) * 0.99) - 1] < 0.005


# ------------------------------------------------------------------ triage(): classification + KB

def test_how_to_question_gets_an_article(model, kb):
    result = triage("how do I set up an out of office reply?", model, kb)
    assert isinstance(result, TriageResult)
    assert (result.intent, result.topic, result.article_id) == ("how_to", "email", "email-out-of-office")
    assert result.article_score >= 0.35


def test_incidents_and_requests_get_no_article(model, kb):
    incident = triage("I clicked a link in a phishing email and typed my password", model, kb)
    request = triage("please install visio on my laptop", model, kb)
    assert (incident.intent, incident.topic, incident.article_id) == ("broken", "security", None)
    assert (request.intent, request.article_id) == ("request", None)


def test_a_problem_that_asks_for_a_way_out_gets_the_article_a_plain_report_does_not(model, kb):
    asking = triage("my vpn keeps dropping every five minutes, is there anything I can do?", model, kb)
    report = triage("my vpn keeps dropping every five minutes", model, kb)
    assert (asking.intent, asking.article_id, asking.decision) == ("broken", "vpn-troubleshooting", "answer")
    assert (report.intent, report.article_id) == ("broken", None)


def test_article_needs_to_reach_the_threshold(model, kb):
    loose = triage("how do I connect to the guest wifi", model, kb, answer_threshold=0.0)
    strict = triage("how do I connect to the guest wifi", model, kb, answer_threshold=1.0)
    assert loose.article_id == "network-wifi"
    assert strict.article_id is None or strict.article_score == 1.0
    with pytest.raises(ValueError):
        triage("anything", model, kb, answer_threshold=1.5)


def test_small_talk_gets_no_article(model, kb):
    result = triage("thanks, have a good weekend", model, kb)
    assert (result.intent, result.article_id, result.decision) == ("other", None, "none")


# ------------------------------------------------------------------ config errors

VALID = """\
examples:
  account:
    how_to: [how do I reset my password]
    broken: [my account is locked]
    request: [please unlock my account]
  other:
    other: [hello]
"""


def _config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "triage.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_minimal_config_needs_every_label(tmp_path):
    with pytest.raises(TriageConfigError, match="no examples for: .*mfa"):
        TriageModel.from_config(_config(tmp_path, VALID))


def test_missing_config_file_names_the_file(tmp_path):
    with pytest.raises(TriageConfigError) as err:
        TriageModel.from_config(tmp_path)
    assert err.value.path.endswith("triage.yaml") and "not found" in str(err.value)
    assert isinstance(err.value, ConfigError) and isinstance(err.value, ValueError)


@pytest.mark.parametrize("text, line, message", [
    (VALID.replace("  account:", "  acount:"), 2, "unknown topic 'acount'"),
    (VALID.replace("    broken:", "    borken:"), 4, "unknown intent 'borken'"),
    ("intent_cues:\n  how_to:\n    how do i: lots\n" + VALID, 3, "must be a number"),
    ("topic_cues:\n  printers:\n    toner: 2\n" + VALID, 2, "unknown topic 'printers'"),
    ("rules:\n  - pattern: '(unclosed'\n    topic: security\n" + VALID, 2, "invalid regular expression"),
    ("rules:\n  - pattern: 'x'\n    topic: secruity\n" + VALID, 3, "unknown topic 'secruity'"),
    ("rules:\n  - pattern: 'x'\n" + VALID, 2, "needs a 'pattern' and an 'intent' and/or 'topic'"),
    ("exmples:\n  a: b\n", 1, "unknown key 'exmples'"),
    ("intent_cues:\n  other:\n    yes: 2\n" + VALID, 3, "must be text (quote words like yes"),
    (VALID.replace("    request: [please unlock my account]", "    request: please unlock"), 5, "must be a list"),
    ("examples: [\n", 2, "invalid YAML"),
])
def test_bad_config_names_file_and_line(tmp_path, text, line, message):
    with pytest.raises(TriageConfigError) as err:
        TriageModel.from_config(_config(tmp_path, text))
    assert message in str(err.value)
    assert err.value.line == line
    assert str(err.value).startswith(f"{tmp_path / 'triage.yaml'}:{line}: ")
