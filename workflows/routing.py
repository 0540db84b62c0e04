"""Where a help-desk request goes, how urgent it is, and who must approve it.

``route_request`` is a pure function of the triage labels, the message text, the
requester and the rules in config/routing.yaml (validated against config/teams.yaml by
``load_routing``). Priority is impact x urgency, read from cue phrases in the text; a
security incident always goes to the security team at P1 with steps the employee should
take at once; a VIP's request is raised one level.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from workflows.config import ConfigError, Located, load_yaml
from workflows.request_limits import RequestLimits
from workflows.teams import PRIORITIES, TeamDirectory, check_keys, mapping_at, string_list
from workflows.triage.classify import INTENTS, TOPICS
from workflows.triage.text import normalize

CONFIG_FILE = "routing.yaml"
APPROVERS = ("manager", "app_owner", "cio")
IMPACTS = ("wide", "individual")
URGENCIES = ("high", "medium", "low")

_TOP_KEYS = ("topic_teams", "intent_overrides", "priority", "cues", "security_incident", "approvals",
             "sla_warning_fraction", "request_limits")
_REQUIRED = ("topic_teams", "priority", "cues", "security_incident", "sla_warning_fraction")
_PRIORITY_KEYS = ("urgency_by_intent", "matrix")
_CUE_KEYS = ("wide_impact", "high_urgency", "critical")
_SECURITY_KEYS = ("team", "priority", "kinds", "default_steps")
_KIND_KEYS = ("name", "label", "cues", "steps")
_NEGATIONS = frozenset({"not", "no", "never", "isnt", "arent", "wasnt", "werent", "dont", "didnt", "doesnt",
                        "havent", "hasnt"})
_INTENT_REASON = {"broken": "reported as not working", "request": "a request for something new",
                  "how_to": "a question", "other": "not a problem report"}


@dataclass(frozen=True)
class Route:
    team: str  # team id in teams.yaml
    priority: str  # P1..P4
    reasons: list[str]  # short, human: why this priority
    needs_approval: bool
    approver: str | None  # 'manager' | 'app_owner' | 'cio' | None
    safety_steps: list[str]  # what the employee should do now (security incidents only)


@dataclass(frozen=True)
class Cue:
    phrase: str  # as written in the YAML, quoted in reasons
    norm: str  # as matched against the normalised message


@dataclass(frozen=True)
class SecurityKind:
    name: str
    label: str
    cues: tuple[Cue, ...]
    steps: tuple[str, ...]


@dataclass(frozen=True)
class RoutingRules:
    topic_teams: Mapping[str, str]
    intent_overrides: Mapping[str, Mapping[str, str]]
    urgency_by_intent: Mapping[str, str]
    matrix: Mapping[str, Mapping[str, str]]  # impact -> urgency -> priority
    wide_impact: tuple[Cue, ...]
    high_urgency: tuple[Cue, ...]
    critical: tuple[Cue, ...]
    security_team: str
    security_priority: str
    security_kinds: tuple[SecurityKind, ...]
    security_default_steps: tuple[str, ...]
    approvals: Mapping[str, Mapping[str, str]]  # intent -> topic -> approver
    sla_warning_fraction: float
    request_limits: RequestLimits = RequestLimits()   # new requests per person per minute and per hour


# ------------------------------------------------------------------ routing one request

def route_request(intent: str, topic: str, text: str, requester_id: str | None,
                  teams: TeamDirectory, rules: RoutingRules) -> Route:
    """Team, priority (with reasons), approval and safety steps for one triaged message."""
    if intent not in INTENTS or topic not in TOPICS:
        raise ValueError(f"unknown intent/topic {intent!r}/{topic!r}")
    norm = normalize(text)
    critical = _first_said(norm, rules.critical) if intent == "broken" else None
    if (intent == "broken" and topic == "security") or critical:
        return _security_incident(norm, critical, rules)
    team = rules.intent_overrides.get(intent, {}).get(topic, rules.topic_teams[topic])
    priority, reasons = _priority(intent, norm, rules)
    if requester_id and teams.is_vip(requester_id) and priority != PRIORITIES[0]:
        priority = PRIORITIES[PRIORITIES.index(priority) - 1]
        reasons.append("VIP requester (one level up)")
    approver = rules.approvals.get(intent, {}).get(topic)
    return Route(team, priority, reasons, approver is not None, approver, [])


def _priority(intent: str, norm: str, rules: RoutingRules) -> tuple[str, list[str]]:
    urgency = rules.urgency_by_intent[intent]
    default = rules.matrix["individual"][urgency]
    reasons = [f"{_INTENT_REASON[intent]} ({default} by default)"]
    impact = "individual"
    wide = _first_said(norm, rules.wide_impact)
    if wide:
        impact = "wide"
        reasons.append(f'affects many people ("{wide.phrase}")')
    urgent = _first_said(norm, rules.high_urgency)
    if urgent:
        urgency = URGENCIES[max(0, URGENCIES.index(urgency) - 1)]  # one level up: a request stays below a breakage
        reasons.append(f'urgent ("{urgent.phrase}")')
    return rules.matrix[impact][urgency], reasons


def _security_incident(norm: str, critical: Cue | None, rules: RoutingRules) -> Route:
    kind = next((k for k in rules.security_kinds if _first_said(norm, k.cues)), None)
    reasons = [f"security incident: {kind.label if kind else 'reported to security'} "
               f"(always {rules.security_priority})"]
    if critical:
        reasons.append(f'possible ransomware or breach ("{critical.phrase}")')
    steps = kind.steps if kind else rules.security_default_steps
    return Route(rules.security_team, rules.security_priority, reasons, False, None, list(steps))


def _first_said(norm: str, cues: tuple[Cue, ...]) -> Cue | None:
    return next((cue for cue in cues if _said(norm, cue.norm)), None)


def _said(norm: str, phrase: str) -> bool:
    """Whole-word match of ``phrase`` in ``norm`` that is not straight after a negation."""
    padded, needle = f" {norm} ", f" {phrase} "
    at = padded.find(needle)
    while at != -1:
        before = padded[:at].split()
        if not before or before[-1] not in _NEGATIONS:
            return True
        at = padded.find(needle, at + 1)
    return False


# ------------------------------------------------------------------ the file

def load_routing(config_dir: Path | str, teams: TeamDirectory) -> RoutingRules:
    """Read and validate config/routing.yaml against ``teams``; mistakes are ``ConfigError``s."""
    path = Path(config_dir) / CONFIG_FILE
    data = mapping_at(load_yaml(path), path, 1, CONFIG_FILE)
    check_keys(data, _TOP_KEYS, path, CONFIG_FILE, required=_REQUIRED)
    check = _Checker(path, teams)
    urgency, matrix = check.priority(data["priority"], data.line_of("priority"))
    cues = mapping_at(data["cues"], path, data.line_of("cues"), "cues")
    check_keys(cues, _CUE_KEYS, path, "cues", required=_CUE_KEYS)
    team, priority, kinds, default_steps = check.security(data["security_incident"], data.line_of("security_incident"))
    return RoutingRules(
        topic_teams=check.table(data, "topic_teams", TOPICS, "topic", check.team, complete=True),
        intent_overrides=check.by_intent(data, "intent_overrides", check.team),
        urgency_by_intent=urgency,
        matrix=matrix,
        wide_impact=check.cues(cues, "wide_impact"),
        high_urgency=check.cues(cues, "high_urgency"),
        critical=check.cues(cues, "critical"),
        security_team=team,
        security_priority=priority,
        security_kinds=kinds,
        security_default_steps=default_steps,
        approvals=check.by_intent(data, "approvals", check.approver),
        sla_warning_fraction=check.fraction(data["sla_warning_fraction"], data.line_of("sla_warning_fraction")),
        request_limits=check.limits(data),
    )


class _Checker:
    """Validation helpers bound to one file and the known teams; each returns the checked value."""

    def __init__(self, path: Path, teams: TeamDirectory):
        self.path, self.teams = path, teams

    def fail(self, line: int, message: str) -> ConfigError:
        return ConfigError(self.path, line, message)

    def table(self, parent: Located, key: str, known: tuple[str, ...], noun: str, value_check: Callable,
              complete: bool = False, label: str = "") -> Mapping[str, Any]:
        """``key: {name: value}``: names are known ``noun``s, each value passed through ``value_check``."""
        label = label or key
        node = mapping_at(parent[key], self.path, parent.line_of(key), label)
        for name in node:
            if name not in known:
                raise self.fail(node.line_of(name), f"{label}: unknown {noun} {name!r} (known: {', '.join(known)})")
        missing = [name for name in known if name not in node]
        if complete and missing:
            raise self.fail(parent.line_of(key), f"{label}: missing {', '.join(missing)}")
        return MappingProxyType({name: value_check(node[name], node.line_of(name), f"{label} {name}") for name in node})

    def limits(self, parent: Located) -> RequestLimits:
        """Optional ``request_limits: {per_minute: N, per_hour: M}``."""
        if "request_limits" not in parent:
            return RequestLimits()
        node = mapping_at(parent["request_limits"], self.path, parent.line_of("request_limits"), "request_limits")
        check_keys(node, ("per_minute", "per_hour"), self.path, "request_limits")
        try:
            return RequestLimits(**dict(node))
        except ValueError as exc:
            raise self.fail(parent.line_of("request_limits"), f"request_limits: {exc}") from None

    def by_intent(self, parent: Located, key: str, value_check: Callable) -> Mapping[str, Mapping[str, Any]]:
        """Optional ``key: {intent: {topic: value}}``."""
        if key not in parent:
            return MappingProxyType({})
        node = mapping_at(parent[key], self.path, parent.line_of(key), key)
        for intent in node:
            if intent not in INTENTS:
                raise self.fail(node.line_of(intent), f"{key}: unknown intent {intent!r} (known: {', '.join(INTENTS)})")
        return MappingProxyType({intent: self.table(node, intent, TOPICS, "topic", value_check, label=f"{key} {intent}")
                                 for intent in node})

    def team(self, value: Any, line: int, what: str) -> str:
        if value not in self.teams.teams:
            raise self.fail(line, f"{what}: unknown team {value!r} (known: {', '.join(self.teams.teams)})")
        return value

    def approver(self, value: Any, line: int, what: str) -> str:
        if value not in APPROVERS:
            raise self.fail(line, f"{what}: unknown approver {value!r} (known: {', '.join(APPROVERS)})")
        return value

    def level(self, value: Any, line: int, what: str) -> str:
        if value not in PRIORITIES:
            raise self.fail(line, f"{what}: unknown priority {value!r} (use P1, P2, P3 or P4)")
        return value

    def urgency(self, value: Any, line: int, what: str) -> str:
        if value not in URGENCIES:
            raise self.fail(line, f"{what}: unknown urgency {value!r} (known: {', '.join(URGENCIES)})")
        return value

    def priority(self, value: Any, line: int) -> tuple[Mapping[str, str], Mapping[str, Mapping[str, str]]]:
        node = mapping_at(value, self.path, line, "priority")
        check_keys(node, _PRIORITY_KEYS, self.path, "priority", required=_PRIORITY_KEYS)
        urgency = self.table(node, "urgency_by_intent", INTENTS, "intent", self.urgency, complete=True)
        rows = mapping_at(node["matrix"], self.path, node.line_of("matrix"), "matrix")
        check_keys(rows, IMPACTS, self.path, "priority matrix", required=IMPACTS)
        matrix = {impact: self.table(rows, impact, URGENCIES, "urgency", self.level, complete=True, label=f"matrix {impact}")
                  for impact in IMPACTS}
        return urgency, MappingProxyType(matrix)

    def cues(self, parent: Located, key: str) -> tuple[Cue, ...]:
        line = parent.line_of(key)
        cues = tuple(Cue(p, normalize(p)) for p in string_list(parent[key], self.path, line, f"cues {key}"))
        for cue in cues:
            if not cue.norm or "#" in cue.norm.split():
                raise self.fail(line, f"cues {key}: {cue.phrase!r} has no words to match (digits are not matched)")
        return cues

    def security(self, value: Any, line: int) -> tuple[str, str, tuple[SecurityKind, ...], tuple[str, ...]]:
        node = mapping_at(value, self.path, line, "security_incident")
        check_keys(node, _SECURITY_KEYS, self.path, "security_incident", required=_SECURITY_KEYS)
        team = self.team(node["team"], node.line_of("team"), "security_incident team")
        priority = self.level(node["priority"], node.line_of("priority"), "security_incident priority")
        if not isinstance(node["kinds"], list):
            raise self.fail(node.line_of("kinds"), "security_incident kinds must be a list")
        kinds = tuple(self.kind(item, node.line_of("kinds")) for item in node["kinds"])
        default = string_list(node["default_steps"], self.path, node.line_of("default_steps"), "default_steps")
        return team, priority, kinds, default

    def kind(self, value: Any, line: int) -> SecurityKind:
        node = mapping_at(value, self.path, line, "each security_incident kind")
        what = f"security_incident kind {node.get('name', '?')!r}"
        check_keys(node, _KIND_KEYS, self.path, what, required=_KIND_KEYS)
        for key in ("name", "label"):
            if not isinstance(node[key], str) or not node[key].strip():
                raise self.fail(node.line_of(key), f"{what}: {key} must be a non-empty string")
        steps = string_list(node["steps"], self.path, node.line_of("steps"), f"{what} steps")
        return SecurityKind(node["name"], node["label"], self.cues(node, "cues"), steps)

    def fraction(self, value: Any, line: int) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise self.fail(line, f"sla_warning_fraction must be a number between 0 and 1, e.g. 0.75 (got {value!r})")
        return float(value)
