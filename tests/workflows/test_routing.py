"""Routing: team, priority and reasons, approvals and security safety steps; routing.yaml errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from workflows.config import ConfigError
from workflows.routing import load_routing, route_request
from workflows.teams import load_teams

CONFIG = Path(__file__).resolve().parents[2] / "config"
EMPLOYEE = "U0ANA"
VIP = "U0CEO"


@pytest.fixture(scope="module")
def teams():
    return load_teams(CONFIG)


@pytest.fixture(scope="module")
def rules(teams):
    return load_routing(CONFIG, teams)


@pytest.fixture
def route(teams, rules):
    def _route(intent, topic, text, requester=EMPLOYEE):
        return route_request(intent, topic, text, requester, teams, rules)
    return _route


# ------------------------------------------------------------------ teams and priorities

def test_everyday_problem_goes_to_the_help_desk_at_p3(route):
    r = route("broken", "printer", "the printer on floor 2 keeps jamming")
    assert (r.team, r.priority, r.needs_approval, r.approver, r.safety_steps) == ("helpdesk_l1", "P3", False, None, [])
    assert r.reasons == ["reported as not working (P3 by default)"]


def test_whole_office_wifi_down_is_p1_for_the_msp(route):
    r = route("broken", "network", "the whole office wifi is down")
    assert (r.team, r.priority) == ("msp", "P1")
    assert r.reasons == ["reported as not working (P3 by default)", 'affects many people ("whole office")',
                         'urgent ("is down")']


def test_wide_impact_alone_is_p2(route):
    r = route("broken", "printer", "Nobody can print on the 3rd floor")
    assert (r.team, r.priority) == ("helpdesk_l1", "P2")


def test_urgency_alone_is_p2(route):
    r = route("broken", "hardware", "laptop won't boot and I have a client meeting at 10, can't work")
    assert r.priority == "P2" and r.reasons[-1] == 'urgent ("cant work")'


def test_shutting_down_is_not_an_outage(route):
    assert route("broken", "hardware", "my laptop is overheating and shuts down").priority == "P3"


def test_negated_urgency_does_not_count(route):
    r = route("broken", "hardware", "not urgent, but my mouse is flaky")
    assert r.priority == "P3" and len(r.reasons) == 1


def test_requests_and_questions_default_to_p4(route):
    assert route("request", "software", "can I get Visio please").priority == "P4"
    assert route("how_to", "email", "how do I set an out of office").priority == "P4"
    assert route("other", "other", "what's for lunch").priority == "P4"


def test_urgent_request_is_p3(route):
    r = route("request", "access", "I need access to the finance share ASAP")
    assert r.priority == "P3" and r.reasons == ["a request for something new (P4 by default)", 'urgent ("asap")']
    assert route("request", "access", "the entire team needs access to the new site asap").priority == "P2"


def test_infrastructure_topics_go_to_the_msp(route):
    assert route("broken", "backup", "last night's backup job failed").team == "msp"
    assert route("request", "backup", "please restore my project folder from Friday").team == "msp"
    assert route("broken", "vpn", "vpn won't connect").team == "helpdesk_l1"


# ------------------------------------------------------------------ VIPs

def test_vip_is_raised_one_level(route):
    r = route("broken", "email", "outlook keeps crashing", requester=VIP)
    assert r.priority == "P2" and r.reasons[-1] == "VIP requester (one level up)"
    assert route("request", "hardware", "a second monitor please", requester=VIP).priority == "P3"


def test_vip_never_goes_above_p1(route):
    r = route("broken", "network", "the whole office wifi is down", requester=VIP)
    assert r.priority == "P1" and "VIP requester (one level up)" not in r.reasons


# ------------------------------------------------------------------ approvals

@pytest.mark.parametrize("topic, approver", [("access", "manager"), ("software", "app_owner"), ("hardware", "cio")])
def test_requests_needing_approval(route, topic, approver):
    r = route("request", topic, "I would like this please")
    assert (r.needs_approval, r.approver) == (True, approver)


@pytest.mark.parametrize("intent, topic", [("request", "email"), ("request", "printer"), ("broken", "hardware"),
                                           ("broken", "access"), ("how_to", "software")])
def test_no_approval_otherwise(route, intent, topic):
    r = route(intent, topic, "something")
    assert (r.needs_approval, r.approver) == (False, None)


# ------------------------------------------------------------------ security incidents

def test_phishing_goes_to_security_at_p1_with_safety_steps(route):
    r = route("broken", "security", "I got a weird email from 'the CEO' and clicked the link")
    assert (r.team, r.priority, r.needs_approval) == ("security", "P1", False)
    assert r.reasons == ["security incident: phishing (always P1)"]
    assert r.safety_steps[0].startswith("Don't click anything else in that message")
    assert any("Don't enter your password" in s and "(SSPR)" in s for s in r.safety_steps)


def test_credentials_entered_means_change_password_now(route):
    r = route("broken", "security", "I clicked a phishing link and typed my password in before I noticed")
    assert r.reasons == ["security incident: password or code given away (always P1)"]
    assert r.safety_steps[0].startswith("Change your password now with self-service password reset (SSPR)")


def test_denied_credentials_are_still_phishing(route):
    r = route("broken", "security", "phishing email, I clicked it but I didn't enter my password")
    assert r.reasons == ["security incident: phishing (always P1)"]


def test_malware_means_disconnect(route):
    r = route("broken", "security", "my PC says it has a virus and keeps showing pop-ups")
    assert r.priority == "P1"
    assert r.safety_steps[0].startswith("Disconnect the device from the network now")


def test_lost_device_will_be_locked_remotely(route):
    r = route("broken", "security", "I left my laptop on the train this morning")
    assert (r.team, r.priority) == ("security", "P1")
    assert r.reasons == ["security incident: lost or stolen device (always P1)"]
    assert r.safety_steps[0].startswith("We will lock the device remotely")


def test_vip_security_incident_is_p1_too(route):
    r = route("broken", "security", "my phone was stolen", requester=VIP)
    assert r.priority == "P1" and len(r.reasons) == 1


def test_unrecognised_security_incident_gets_the_default_steps(route, rules):
    r = route("broken", "security", "something odd happened")
    assert r.safety_steps == list(rules.security_default_steps)
    assert r.reasons == ["security incident: reported to security (always P1)"]


def test_ransomware_on_any_topic_is_a_security_incident(route):
    r = route("broken", "software", "all my files are encrypted and there's a ransom note on the desktop")
    assert (r.team, r.priority) == ("security", "P1")
    assert r.reasons == ["security incident: possible malware (always P1)",
                         'possible ransomware or breach ("ransom")']
    assert "Don't pay or answer any ransom demand." in r.safety_steps


def test_security_questions_and_requests_are_not_incidents(route):
    question = route("how_to", "security", "what is our data breach policy?")
    request = route("request", "security", "can I book the security awareness training")
    for r in (question, request):
        assert (r.team, r.priority, r.safety_steps) == ("security", "P4", [])


def test_unknown_labels_are_refused(route):
    with pytest.raises(ValueError, match="unknown intent/topic 'complaint'/'email'"):
        route("complaint", "email", "outlook is slow")


# ------------------------------------------------------------------ routing.yaml mistakes, with file and line

# Line numbers matter: the error tests below name them.
MINIMAL = """\
topic_teams:
  account: helpdesk_l1
  mfa: helpdesk_l1
  email: helpdesk_l1
  vpn: helpdesk_l1
  network: msp
  printer: helpdesk_l1
  hardware: helpdesk_l1
  mobile: helpdesk_l1
  software: helpdesk_l1
  access: helpdesk_l1
  backup: msp
  security: security
  meetings: helpdesk_l1
  other: helpdesk_l1
priority:
  urgency_by_intent: {broken: medium, request: low, how_to: low, other: low}
  matrix:
    wide: {high: P1, medium: P2, low: P3}
    individual: {high: P2, medium: P3, low: P4}
cues:
  wide_impact: [everyone]
  high_urgency: [urgent]
  critical: [ransomware]
security_incident:
  team: security
  priority: P1
  kinds:
    - {name: lost_device, label: lost device, cues: [lost], steps: [We will lock it.]}
  default_steps: [Stay reachable.]
approvals:
  request: {access: manager}
sla_warning_fraction: 0.75
"""

KNOWN_TEAMS = "helpdesk_l1, helpdesk_l2, helpdesk_l3, msp, security, cio"
KNOWN_TOPICS = ("account, mfa, email, vpn, network, printer, hardware, mobile, software, access, backup, "
                "security, meetings, other")


def error_for(tmp_path, teams, old, new):
    assert old in MINIMAL, old
    (tmp_path / "routing.yaml").write_text(MINIMAL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_routing(tmp_path, teams)
    return str(caught.value).replace(str(tmp_path / "routing.yaml"), "routing.yaml")


def test_minimal_file_loads(tmp_path, teams):
    (tmp_path / "routing.yaml").write_text(MINIMAL, encoding="utf-8")
    rules = load_routing(tmp_path, teams)
    assert rules.intent_overrides == {} and rules.sla_warning_fraction == 0.75
    assert route_request("broken", "account", "I lost my password, everyone is urgent", EMPLOYEE, teams,
                         rules).priority == "P1"


def test_unknown_team(tmp_path, teams):
    assert error_for(tmp_path, teams, "  network: msp", "  network: netops") == \
        f"routing.yaml:6: topic_teams network: unknown team 'netops' (known: {KNOWN_TEAMS})"


def test_unknown_topic(tmp_path, teams):
    assert error_for(tmp_path, teams, "  vpn: helpdesk_l1", "  wifi: msp") == \
        f"routing.yaml:5: topic_teams: unknown topic 'wifi' (known: {KNOWN_TOPICS})"


def test_every_topic_needs_a_team(tmp_path, teams):
    assert error_for(tmp_path, teams, "  other: helpdesk_l1\n", "") == "routing.yaml:1: topic_teams: missing other"


def test_unknown_priority_in_the_matrix(tmp_path, teams):
    assert error_for(tmp_path, teams, "wide: {high: P1,", "wide: {high: P0,") == \
        "routing.yaml:19: matrix wide high: unknown priority 'P0' (use P1, P2, P3 or P4)"


def test_unknown_security_priority(tmp_path, teams):
    assert error_for(tmp_path, teams, "  priority: P1", "  priority: critical") == \
        "routing.yaml:27: security_incident priority: unknown priority 'critical' (use P1, P2, P3 or P4)"


def test_unknown_security_team(tmp_path, teams):
    assert error_for(tmp_path, teams, "  team: security", "  team: soc") == \
        f"routing.yaml:26: security_incident team: unknown team 'soc' (known: {KNOWN_TEAMS})"


def test_unknown_approver(tmp_path, teams):
    assert error_for(tmp_path, teams, "{access: manager}", "{access: boss}") == \
        "routing.yaml:32: approvals request access: unknown approver 'boss' (known: manager, app_owner, cio)"


def test_unknown_topic_in_approvals(tmp_path, teams):
    assert error_for(tmp_path, teams, "{access: manager}", "{acess: manager}") == \
        f"routing.yaml:32: approvals request: unknown topic 'acess' (known: {KNOWN_TOPICS})"


def test_unknown_intent_in_approvals(tmp_path, teams):
    assert error_for(tmp_path, teams, "  request: {access", "  requests: {access") == \
        "routing.yaml:32: approvals: unknown intent 'requests' (known: how_to, broken, request, other)"


def test_unknown_key(tmp_path, teams):
    assert error_for(tmp_path, teams, "sla_warning_fraction: 0.75", "sla_warning: 0.75") == \
        ("routing.yaml:33: unknown key 'sla_warning' in routing.yaml (known: topic_teams, intent_overrides, "
         "priority, cues, security_incident, approvals, sla_warning_fraction, request_limits)")


def test_warning_fraction_must_be_between_0_and_1(tmp_path, teams):
    assert error_for(tmp_path, teams, "sla_warning_fraction: 0.75", "sla_warning_fraction: 75") == \
        "routing.yaml:33: sla_warning_fraction must be a number between 0 and 1, e.g. 0.75 (got 75)"


def test_unknown_urgency(tmp_path, teams):
    assert error_for(tmp_path, teams, "{broken: medium,", "{broken: severe,") == \
        "routing.yaml:17: urgency_by_intent broken: unknown urgency 'severe' (known: high, medium, low)"


def test_cue_lists_hold_words(tmp_path, teams):
    assert error_for(tmp_path, teams, "high_urgency: [urgent]", "high_urgency: [urgent, 24/7]") == \
        "routing.yaml:23: cues high_urgency: '24/7' has no words to match (digits are not matched)"


def test_overrides_name_known_teams(tmp_path, teams):
    assert error_for(tmp_path, teams, "approvals:", "intent_overrides:\n  request: {hardware: buyers}\napprovals:") == \
        f"routing.yaml:32: intent_overrides request hardware: unknown team 'buyers' (known: {KNOWN_TEAMS})"
