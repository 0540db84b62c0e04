"""Carrying out one checklist action against a directory (or planning it): the verb and its arguments."""
from __future__ import annotations

import secrets
import string
from datetime import date
from typing import Any, Mapping

from workflows.checklist import ACTIONS
from workflows.directory import NewUser, Outcome
from workflows.naming import upn_for


class HandOver(Exception):
    """This action must be done by a person (the text says what and why)."""


def random_password(length: int = 24) -> str:
    """A password nobody knows, meeting AD complexity; the person signs in with a TAP or SSPR instead."""
    alphabet = string.ascii_letters + string.digits + "!#%+-=?@^_"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        classes = [any(c.islower() for c in candidate), any(c.isupper() for c in candidate),
                   any(c.isdigit() for c in candidate), any(not c.isalnum() for c in candidate)]
        if all(classes):
            return candidate


def new_user(person: Mapping[str, Any], directory: Any, ou: str | None = None) -> NewUser:
    username = person["username"]
    given = person.get("preferred_given_name") or person.get("given_name") or username
    surname = person.get("preferred_surname") or person.get("surname") or ""
    domain = getattr(directory, "upn_domain", None) or "example.test"
    return NewUser(username=username, given_name=given, surname=surname, display_name=f"{given} {surname}".strip(),
                   upn=upn_for(username, domain), department=person.get("department"), title=person.get("title"),
                   office=person.get("office"), employee_id=person.get("employee_id"), manager=person.get("manager"),
                   usage_location=person.get("usage_location"), ou=ou)


def _current(directory: Any, username: str, kind: str) -> list[str]:
    user = directory.find_user(username)
    if user is None:
        return []
    if kind == "groups":
        return list(user.groups)
    return list(user.attributes.get("licenses") or user.attributes.get("assignedLicenses") or [])


def _names(directory: Any, username: str, args: Mapping[str, Any], kind: str) -> list[str]:
    names = list(args.get(kind, ()))
    if args.get(f"all_{kind}"):
        keep = list(args.get("keep", ()))
        # Entra cannot remove members of synced, dynamic or mail-enabled groups: its connector says which it can.
        removable = getattr(directory, "removable_groups", None) if kind == "groups" else None
        if removable is not None:
            names += removable(username, keep)[0]
        else:
            kept = {k.casefold() for k in keep}
            names += [n for n in _current(directory, username, kind) if n.casefold() not in kept]
    return list(dict.fromkeys(names))


def _end_date(person: Mapping[str, Any]) -> date | None:
    value = person.get("end_date") or person.get("last_day")
    return date.fromisoformat(value) if isinstance(value, str) else value


def perform(action: str, directory: Any, person: Mapping[str, Any], args: Mapping[str, Any], *, plan: bool) -> Outcome:
    """Run (or with ``plan`` only describe) ``action`` for ``person``; HandOver when a person must do it."""
    verb = ACTIONS[action].verb
    username = person["username"]
    if verb == "issue_temporary_access_pass":
        raise HandOver("A Temporary Access Pass is a credential, and itbot never posts credentials in Slack: issue it "
                       "in the Entra admin center on the first morning and hand it over in person.")
    if verb == "create_user":
        return directory.create_user(new_user(person, directory, args.get("ou")), plan=plan)
    if verb == "onboard":
        extra = {k: v for k, v in args.items() if k in ("groups", "licenses", "must_change", "enable")}
        return directory.onboard(new_user(person, directory, args.get("ou")), plan=plan, **extra)
    if verb == "set_initial_credential":
        return directory.set_initial_credential(username, random_password(), must_change=args.get("must_change", True),
                                                plan=plan)
    if verb in ("add_to_groups", "remove_from_groups"):
        return getattr(directory, verb)(username, _names(directory, username, args, "groups"), plan=plan)
    if verb in ("assign_licenses", "remove_licenses"):
        return getattr(directory, verb)(username, _names(directory, username, args, "licenses"), plan=plan)
    if verb == "set_manager":
        return directory.set_manager(username, person.get("manager"), plan=plan)
    if verb == "set_attributes":
        names = args.get("attributes") or ("title", "department", "office", "employee_id")
        return directory.set_attributes(username, {n: person.get(n) for n in names}, plan=plan)
    if verb == "move_to_ou":
        return directory.move_to_ou(username, args.get("ou"), plan=plan)
    if verb == "set_account_expiry":
        return directory.set_account_expiry(username, _end_date(person), plan=plan)
    return getattr(directory, verb)(username, plan=plan)
