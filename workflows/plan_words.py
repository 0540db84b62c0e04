"""An approval card's words for a change the directories cannot preview yet (it depends on earlier steps,
such as the account being created): what will be done, for people, not the verb and its arguments."""
from __future__ import annotations

from typing import Any, Mapping

_VERBS = {
    "create_user": "Create the account", "onboard": "Create, set up and enable the account",
    "set_initial_credential": "Set a random initial password", "enable_user": "Enable the account",
    "disable_user": "Disable the account", "add_to_groups": "Add to the groups",
    "remove_from_groups": "Remove from the groups", "set_manager": "Set the manager",
    "set_attributes": "Update", "move_to_ou": "Move the account to", "set_account_expiry": "Set the account to expire",
    "assign_licenses": "Assign the licences", "remove_licenses": "Remove the licences",
    "revoke_sessions": "Sign out of every session", "remove_mfa_methods": "Remove the sign-in (MFA) methods",
    "issue_temporary_access_pass": "Issue a Temporary Access Pass",
}
_NAMED = ("groups", "licenses", "attributes", "ou")            # what the verb acts on: "Add to the groups: A, B"
_FLAGS = {"must_change": "to be changed at first sign-in", "usable_once": "usable once", "enable": "then enabled"}


def shown(value: Any) -> str:
    """A value as a person reads it: lists as "a, b", nothing as "(none)"."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None or value == "" else str(value)


def pending_change(verb: str, args: Mapping[str, Any]) -> str:
    """``add_to_groups`` with ``groups=[A, B]`` → "Add to the groups: A, B — once the steps before it have run"."""
    words = _VERBS.get(verb, verb.replace("_", " ").capitalize())
    named = [shown(args[k]).replace("_", " ") if k == "attributes" else shown(args[k]) for k in _NAMED if args.get(k)]
    details = [text for key, text in _FLAGS.items() if args.get(key)]
    if args.get("lifetime_minutes"):
        details.insert(0, f"valid for {args['lifetime_minutes']} minutes")
    if args.get("keep"):
        details.append(f"keeping {shown(args['keep'])}")
    line = words + (": " + "; ".join(named) if named else "") + (f" ({', '.join(details)})" if details else "")
    return line + " — once the steps before it have run"


def changes_summary(kind: str, name: str, count: int) -> str:
    return f"{kind.replace('-', ' ').capitalize()} of {name}: {count} account {'change' if count == 1 else 'changes'}"
