"""Checklists as data: config/checklists/onboarding.yaml, offboarding.yaml and role-change.yaml.

A file holds ``anchor`` (``start_date``, ``last_day`` or ``effective_date``: the date due times count from),
``default_time``, ``department_groups``/``department_licenses`` (department → names) and ``steps``; each step
has an id and title, an owning ``team`` or ``responsibility`` (a line of teams.yaml's matrix, resolved to its
team), an ``action`` from ``ACTIONS`` with ``args`` or a manual ``task``, ``requires``, ``when``, ``due``,
``approval``, ``privileged`` and ``assignee``. The comment at the top of onboarding.yaml explains each key.

``load_checklist``/``load_checklists`` validate everything at start-up: each mistake is one ``ConfigError``
with file and line. Planning a run (which steps, order, due times) is in ``workflows.checklist_due``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from workflows.checklist_due import (Condition, Due, find_cycle, parse_clock, parse_condition,
                                     name_list, parse_department_map, parse_due)
from workflows.config import ConfigError, Located, load_yaml
from workflows.teams import TeamDirectory, check_keys, mapping_at

KINDS = ("onboarding", "offboarding", "role-change")
ANCHORS = ("start_date", "last_day", "effective_date")
_TOP_KEYS = ("description", "anchor", "default_time", "department_groups", "department_licenses", "steps")
_STEP_KEYS = ("id", "title", "team", "responsibility", "action", "args", "task", "requires", "when", "due",
              "approval", "privileged", "assignee")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")

# ------------------------------------------------------------------------------------------ the actions

Check = Callable[[Any], Any]


def _check(ok: Callable[[Any], Any], message: str, convert: Callable[[Any], Any] = lambda v: v) -> Check:
    def check(value: Any) -> Any:
        if ok(value):
            return convert(value)
        raise ValueError(message)
    return check


_flag = _check(lambda v: isinstance(v, bool), "must be true or false")
_text = _check(lambda v: isinstance(v, str) and v.strip(), "must be a non-empty string", str.strip)
_minutes = _check(lambda v: type(v) is int and 10 <= v <= 43200, "must be a whole number of minutes from 10 to 43200")


def _choice(*options: str) -> Check:
    return _check(lambda v: v in options, f"must be one of {', '.join(options)}")


def _fields(*allowed: str) -> Check:
    return _check(lambda v: all(n in allowed for n in name_list(v)), f"must name some of {', '.join(allowed)}",
                  name_list)


@dataclass(frozen=True)
class ActionSpec:
    name: str                         # "system.verb", the verb being the directory method's name
    access: str | None                # "add" or "remove" when it changes access (approval always required)
    args: Mapping[str, Check]         # argument name → its check
    needs_one_of: tuple[str, ...] = ()

    @property
    def system(self) -> str:
        return self.name.partition(".")[0]

    @property
    def verb(self) -> str:
        return self.name.partition(".")[2]


ACTIONS: dict[str, ActionSpec] = {}


def _action(name: str, access: str | None, needs: tuple[str, ...] = (), **args: Check) -> None:
    ACTIONS[name] = ActionSpec(name, access, MappingProxyType(args), needs)


_TO, _FROM = _choice("department"), _choice("department", "previous_department", "all")
_GROUPS, _LICENSES = {"groups": name_list, "groups_from": _TO}, {"licenses": name_list, "licenses_from": _TO}
_KEEP = {"keep": name_list, "keep_from": _TO}
_DROP_GROUPS = {**_GROUPS, **_KEEP, "groups_from": _FROM}
_DROP_LICENSES = {**_LICENSES, **_KEEP, "licenses_from": _FROM}
_PERSON = ("title", "department", "office", "employee_id", "display_name", "given_name", "surname")
for _sys, _attrs in (("ad", _PERSON + ("company", "phone", "mobile")), ("entra", _PERSON + ("usage_location",))):
    _action(f"{_sys}.create_user", "add", **({"ou": _text} if _sys == "ad" else {}))
    _action(f"{_sys}.set_initial_credential", "add", must_change=_flag)
    _action(f"{_sys}.enable_user", "add")
    _action(f"{_sys}.disable_user", "remove")
    _action(f"{_sys}.add_to_groups", "add", ("groups", "groups_from"), **_GROUPS)
    _action(f"{_sys}.remove_from_groups", "remove", ("groups", "groups_from"), **_DROP_GROUPS)
    _action(f"{_sys}.set_manager", None)
    _action(f"{_sys}.set_attributes", None, ("attributes",), attributes=_fields(*_attrs))
_action("ad.onboard", "add", **_GROUPS, must_change=_flag, enable=_flag)
_action("ad.move_to_ou", None, ou=_text)
_action("ad.set_account_expiry", "remove")
_action("entra.onboard", "add", **_GROUPS, **_LICENSES, enable=_flag)
_action("entra.assign_licenses", "add", ("licenses", "licenses_from"), **_LICENSES)
_action("entra.remove_licenses", "remove", ("licenses", "licenses_from"), **_DROP_LICENSES)
_action("entra.revoke_sessions", "remove")
_action("entra.remove_mfa_methods", "remove")
_action("entra.issue_temporary_access_pass", "add", lifetime_minutes=_minutes, usable_once=_flag)

# ------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    team: str                          # owning team id (resolved when a responsibility was named)
    due: Due
    action: str | None = None          # a key of ACTIONS; None for a manual task
    args: Mapping[str, Any] = field(default_factory=dict)
    task: str | None = None            # instructions for the owning team
    requires: tuple[str, ...] = ()
    when: Condition = Condition()
    needs_approval: bool = False
    privileged: bool = False           # grants admin rights: Security approves too
    responsibility: str | None = None
    assignee: str = "team"             # "team" or "manager"
    line: int = 0                      # where the step starts in its file

    @property
    def manual(self) -> bool:
        return self.action is None

    @property
    def spec(self) -> ActionSpec | None:
        return ACTIONS[self.action] if self.action else None

    @property
    def needs_security_approval(self) -> bool:
        return self.privileged


@dataclass(frozen=True)
class Checklist:
    kind: str                          # the file's name without .yaml
    path: str
    anchor: str                        # one of ANCHORS
    default_time: time
    steps: tuple[Step, ...]            # in file order
    department_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # casefolded keys
    department_licenses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"no step {step_id!r} in {self.path}")


# ------------------------------------------------------------------------------------------ loading


def load_checklists(config_dir: Path | str, teams: TeamDirectory) -> dict[str, Checklist]:
    """``config_dir/checklists/{onboarding,offboarding,role-change}.yaml`` by kind; any other file there is
    an error (a misspelt name would otherwise be ignored)."""
    folder, names = Path(config_dir) / "checklists", ", ".join(f"{k}.yaml" for k in KINDS)
    if not folder.is_dir():
        raise ConfigError(folder, None, f"folder not found (it holds {names})")
    for path in sorted(folder.iterdir()):
        if path.suffix in (".yaml", ".yml") and path.name not in names.split(", "):
            raise ConfigError(path, None, f"unknown checklist (known: {names})")
    return {kind: load_checklist(folder / f"{kind}.yaml", teams) for kind in KINDS}


def load_checklist(path: Path | str, teams: TeamDirectory) -> Checklist:
    """Read and validate one checklist file; every mistake is a ``ConfigError`` with file and line."""
    path = Path(path)
    data = mapping_at(load_yaml(path), path, 1, path.name)
    check_keys(data, _TOP_KEYS, path, path.name, required=("anchor", "steps"))
    if data["anchor"] not in ANCHORS:
        raise ConfigError(path, data.line_of("anchor"), f"anchor must be one of {', '.join(ANCHORS)}")
    try:
        default_time = parse_clock(data.get("default_time", "09:00"))
    except ValueError as exc:
        raise ConfigError(path, data.line_of("default_time"), f"default_time: {exc}") from None
    maps = {key: parse_department_map(data, key, path) for key in ("department_groups", "department_licenses")}
    nodes = data["steps"]
    if not isinstance(nodes, list) or not nodes:
        raise ConfigError(path, data.line_of("steps"), "steps must be a list of steps")
    steps: list[Step] = []
    where: dict[str, Located] = {}
    for n, node in enumerate(nodes, 1):
        node = mapping_at(node, path, data.line_of("steps"), f"steps item {n}")
        step = _step(node, path, teams, default_time, maps)
        if step.id in where:
            raise ConfigError(path, node.line_of("id"),
                              f"duplicate step id {step.id!r} (first at line {where[step.id].line_of('id')})")
        where[step.id] = node
        steps.append(step)
    for step in steps:
        for req in step.requires:
            if req not in where:
                raise ConfigError(path, where[step.id].line_of("requires"),
                                  f"step {step.id!r}: unknown step {req!r} in requires")
    cycle = find_cycle(steps)
    if cycle:
        raise ConfigError(path, where[cycle[0]].line_of("requires"), "dependency cycle: " + " → ".join(cycle))
    return Checklist(kind=path.stem, path=str(path), anchor=data["anchor"], default_time=default_time,
                     steps=tuple(steps), department_groups=maps["department_groups"],
                     department_licenses=maps["department_licenses"], description=str(data.get("description", "")))


def _step(node: Located, path: Path, teams: TeamDirectory, default_time: time, maps: dict) -> Step:
    sid = node.get("id")
    what = f"step {sid!r}" if isinstance(sid, str) else "step"
    check_keys(node, _STEP_KEYS, path, what, required=("id", "title", "due"))

    def fail(key: str, message: str, line: int | None = None) -> ConfigError:
        return ConfigError(path, line or node.line_of(key), f"{what}: {message}")

    if not isinstance(sid, str) or not _ID.match(sid):
        raise fail("id", "the id must be lower_snake_case, e.g. ad_account")
    if not isinstance(node["title"], str) or not node["title"].strip():
        raise fail("title", "title must be a non-empty string")
    team, duty = (_key(node.get(k)) for k in ("team", "responsibility"))
    if (team is None) == (duty is None):
        raise fail("responsibility" if duty is not None else "id", "give exactly one of team and responsibility")
    if team is not None and team not in teams.teams:
        raise fail("team", f"unknown team {team!r} (known: {', '.join(teams.teams)})")
    if duty is not None:
        if duty not in teams.responsibilities:
            hint = _hint(duty, teams.responsibilities, "see responsibilities in teams.yaml")
            raise fail("responsibility", f"unknown responsibility {duty!r} ({hint})")
        team = teams.responsibilities[duty]
    action, args = _action_of(node, fail, maps)
    task = node.get("task")
    if (action is None) == (task is None):
        raise fail("task" if task is not None else "id", "give exactly one of action and task")
    if task is not None and (not isinstance(task, str) or not task.strip()):
        raise fail("task", "task must be the instructions, as text")
    requires = node.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise fail("requires", "requires must be a list of step ids")
    try:
        due = parse_due(node["due"], default_time)
    except ValueError as exc:
        raise fail("due", str(exc)) from None
    privileged = node.get("privileged", False)
    if not isinstance(privileged, bool):
        raise fail("privileged", "privileged must be true or false")
    access = ACTIONS[action].access if action else None
    approval = node.get("approval", "required" if access or privileged else "none")
    if approval not in ("required", "none"):
        raise fail("approval", "approval must be required or none")
    if approval == "none" and (access or privileged):
        reason = f"{action} {'adds' if access == 'add' else 'removes'} access" if access else "it is privileged"
        raise fail("approval", f"approval cannot be none: {reason}")
    assignee = node.get("assignee", "team")
    if assignee not in ("team", "manager"):
        raise fail("assignee", "assignee must be team or manager")
    return Step(id=sid, title=node["title"].strip(), team=team, due=due, action=action, args=args,
                task=task.strip() if task else None, requires=tuple(requires), when=parse_condition(node, path, what),
                needs_approval=approval == "required", privileged=privileged, responsibility=duty,
                assignee=assignee, line=node.line)


def _key(value: Any) -> str | None:
    """A name from the YAML, hashable whatever was written (a list becomes its repr, and is unknown)."""
    return value if value is None or isinstance(value, str) else repr(value)


def _hint(word: Any, known: Any, otherwise: str) -> str:
    near = difflib.get_close_matches(str(word), list(known), n=1)
    return f"did you mean {near[0]!r}?" if near else otherwise


def _action_of(node: Located, fail: Callable, maps: dict) -> tuple[str | None, Mapping[str, Any]]:
    action = _key(node.get("action"))
    if action is None:
        if "args" in node:
            raise fail("args", "args belong to an action; a task has none")
        return None, MappingProxyType({})
    if action not in ACTIONS:
        raise fail("action", f"unknown action {action!r} ({_hint(action, ACTIONS, 'known: ' + ', '.join(ACTIONS))})")
    spec = ACTIONS[action]
    raw = node.get("args", Located())
    if not isinstance(raw, Located):
        raise fail("args", "args must be a mapping of argument names to values")
    args = {}
    for key, value in raw.items():
        line = raw.line_of(key)
        if key not in spec.args:
            takes = ", ".join(spec.args) or "no arguments"
            raise fail("args", f"{action} does not take {key!r} (it takes: {takes})", line)
        try:
            args[key] = spec.args[key](value)
        except ValueError as exc:
            raise fail("args", f"{action} {key}: {exc}", line) from None
        kind = "licenses" if key.startswith("licenses") or (key == "keep_from" and "licenses" in spec.args) \
            else "groups"
        if key.endswith("_from") and value != "all" and not maps[f"department_{kind}"]:
            raise fail("args", f"{action} {key}: {value} needs department_{kind} in this file", line)
    if spec.needs_one_of and not any(k in args for k in spec.needs_one_of):
        raise fail("action", f"{action} needs {' or '.join(spec.needs_one_of)} in args")
    return action, MappingProxyType(args)
