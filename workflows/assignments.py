"""One answer to "which groups, licences and OU does a new hire get", whoever asks.

Two files can say it: the onboarding checklist (``groups``/``licenses`` on its steps and its department maps)
and ``config/directory.yaml`` (everyone / employees / contractors / by department, and the OU by department).
Onboarding runs and ``itbot directory plan-onboarding`` both use the union of the two:

- a run's step that draws the person's groups from a field (``groups_from: department``) also gets the groups
  directory.yaml assigns them in that system; likewise licences (``licenses_from``); an account created
  without an ``ou`` argument goes to directory.yaml's OU for the department, if it names one;
- the preview adds every group and licence the checklist's matching steps would add.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Mapping

from workflows.checklist_due import action_arguments, person_value, steps_for

_KINDS = {"add_to_groups": "groups", "assign_licenses": "licenses"}


def _worker(person: Any) -> Any:
    """What directory.yaml's assignments look at, from a Person or a run's person mapping."""
    return SimpleNamespace(contractor=bool(person_value(person, "contractor", False)),
                           department=person_value(person, "department"))


def _assigned(policy: Any, system: str, kind: str, person: Any) -> list[str]:
    side = getattr(policy, system, None)
    table = getattr(side, kind, None)
    return table.for_person(_worker(person)) if table is not None else []


def with_directory_policy(args: Mapping[str, Any], step: Any, policy: Any, person: Any) -> dict[str, Any]:
    """A run step's arguments (``action_arguments``) plus what directory.yaml assigns (see the module doc)."""
    out = dict(args)
    if policy is None or step.spec is None:
        return out
    system, verb = step.spec.system, step.spec.verb
    kind = _KINDS.get(verb)
    if kind and step.args.get(f"{kind}_from") not in (None, "all"):
        kept = {k.casefold() for k in out.get("keep", ())}
        extra = [n for n in _assigned(policy, system, kind, person) if n.casefold() not in kept]
        out[kind] = list(dict.fromkeys([*out.get(kind, ()), *extra]))
    if verb in ("create_user", "onboard") and system == "ad" and not out.get("ou"):
        department = person_value(person, "department")
        ou = policy.ad.ou_by_department.get(department.casefold()) if isinstance(department, str) else None
        if ou:
            out["ou"] = ou
    return out


def checklist_assignments(checklist: Any, person: Any) -> dict[str, dict[str, list[str]]]:
    """Per system, the groups and licences the checklist's steps that apply to ``person`` would add."""
    found: dict[str, dict[str, list[str]]] = {}
    for step in steps_for(checklist, person):
        kind = _KINDS.get(step.spec.verb) if step.spec is not None else None
        if kind is None:
            continue
        names = action_arguments(checklist, step, person).get(kind, [])
        bucket = found.setdefault(step.spec.system, {}).setdefault(kind, [])
        bucket += [n for n in names if n not in bucket]
    return found
