"""A per-person limit on new requests: a burst of DMs opens at most the limit, the person is told once, IT sees
one card, and everyone else is unaffected."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workflows.config import ConfigError
from workflows.request_limits import RequestLimits, check
from workflows.routing import load_routing
from workflows.teams import load_teams

CONFIG = Path(__file__).resolve().parents[2] / "config"
NOTICE = "which is as many as I open for one person in that time"


def test_the_check_is_pure_arithmetic_on_the_stores_counts():
    limits = RequestLimits(per_minute=5, per_hour=30)
    assert check(limits, 4, 29) is None
    assert check(limits, 5, 5) == ("minute", 5)
    assert check(limits, 0, 30) == ("hour", 30)


def test_the_burst_opens_at_most_the_limit_tells_the_person_once_and_shows_it_one_card(harness):
    limits = harness.services.helpdesk.routing.request_limits
    assert (limits.per_minute, limits.per_hour) == (5, 30)
    mark = len(harness.fake.calls)
    for i in range(40):
        assert harness.driver.dm("U0ANA", f"my laptop is broken again, the screen flickers ({i})").status == 200
    calls = harness.settle(after=mark, timeout=60)
    store = harness.services.store
    assert len(store.list_requests(requester_slack_id="U0ANA")) == 5
    posts = [c for c in calls if c.method == "chat.postMessage"]
    told = [c for c in posts if NOTICE in c.args["text"]]
    assert len(told) == 1 and told[0].args["channel"] == "D0ANA"
    assert "5 requests in the last minute" in told[0].args["text"]
    team = harness.services.teams.team_for("it_doesnt_work").channel
    cards = [c for c in posts if c.args["channel"] == team and "reached the limit" in c.args["text"]]
    assert len(cards) == 1
    assert "<@U0ANA> has opened 5 requests in the last minute" in cards[0].args["blocks"][0]["text"]["text"]
    request_cards = [c for c in posts if c.args["channel"] == team and c.args["text"].startswith("IT-")]
    assert len(request_cards) == 5
    assert len(posts) == 5 + 5 + 1 + 1, "five cards, five 'opened' replies, one notice, one card for IT; no more"

    mark = len(harness.fake.calls)
    harness.driver.dm("U0DEV", "my laptop is broken, the screen flickers")
    calls = harness.settle(after=mark)
    assert len(store.list_requests(requester_slack_id="U0DEV")) == 1
    assert not [c for c in calls if NOTICE in (c.args.get("text") or "")]


def _routing_with(tmp_path, block: str):
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    text = (config / "routing.yaml").read_text()
    start = text.index("request_limits:")
    (config / "routing.yaml").write_text(text[:start] + block)
    return load_routing(config, load_teams(config))


def test_the_limits_are_read_from_routing_yaml(tmp_path):
    rules = _routing_with(tmp_path, "request_limits:\n  per_minute: 2\n  per_hour: 3\n")
    assert rules.request_limits == RequestLimits(per_minute=2, per_hour=3)
    assert _routing_with(tmp_path / "b", "").request_limits == RequestLimits()


@pytest.mark.parametrize("block, says", [
    ("request_limits:\n  per_minute: 10\n  per_hour: 3\n", "per_hour (3) is less than per_minute (10)"),
    ("request_limits:\n  per_minute: 0\n  per_hour: 3\n", "per_minute: expected a whole number from 1 to 10000, got 0"),
    ("request_limits:\n  per_minute: five\n  per_hour: 3\n", "per_minute: expected a whole number"),
    ("request_limits:\n  per_day: 5\n", "unknown key 'per_day' in request_limits"),
])
def test_bad_limits_stop_start_up_with_the_line(tmp_path, block, says):
    with pytest.raises(ConfigError) as caught:
        _routing_with(tmp_path, block)
    assert says in str(caught.value) and "routing.yaml:" in str(caught.value)
