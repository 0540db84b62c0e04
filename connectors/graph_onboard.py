"""A new hire in as few Graph round trips as the API allows: ``onboard``.

1. Names not yet known to this process (group display names, licence part numbers, the manager's
   id) are resolved in one ``$batch`` and everything is validated (groups writable, licences known)
   before anything is written. With warm caches this round trip is skipped.
2. ``POST /users`` (201) creates the account with every attribute, ``usageLocation`` included, so
   licences need no ordering afterwards. The create is guarded by Entra's own uniqueness check rather
   than a read: a taken UPN answers ``400`` with ``details[].code == "ObjectConflict"``, and only then
   is the existing account read (user, memberships, manager in one ``$batch``). Only if it is provably the
   same person's (same mailNickname, and the hire's employeeId, which itbot writes on every account it
   creates) does the run continue as a re-run; otherwise ``ConflictError`` and nothing is written to it.
3. One ``$batch`` carries the rest: manager, group memberships, licences (and, on a re-run, the
   attribute/enable PATCH, with the licence call sequenced after it when it sets usageLocation).
   Calls touching the new user retry a ``404`` (replication delay); inner ``429`` are retried alone.

Fresh hire, warm caches: 2 round trips (+1 token request per process per hour). With plan=True it is
one read ``$batch`` and nothing is written. The password is set only at creation; a re-run never resets
it (the hire may have changed it already).
"""
from __future__ import annotations

import re
import secrets
import string
from dataclasses import replace
from typing import Sequence

from connectors.graph_auth import SYSTEM
from connectors.graph_base import GraphBase, Step
from connectors.graph_http import Call, detail_codes, graph_error
from workflows.directory import Change, ConflictError, InvalidInputError, NewUser, Outcome, require_own_account

_UPN = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_NICKNAME = re.compile(r"^[A-Za-z0-9'.\-_!#^~$%&*+/=?`{|}]{1,64}$")


def random_password(length: int = 24) -> str:
    """A password nobody knows, meeting Entra's complexity rules (upper, lower, digit, symbol)."""
    pools = (string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#%^*-_=+")
    chars = [secrets.choice(p) for p in pools] + [secrets.choice("".join(pools)) for _ in range(length - 4)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _profile(user: NewUser) -> dict:
    props = {"displayName": user.display_name, "givenName": user.given_name, "surname": user.surname,
             "jobTitle": user.title, "department": user.department, "officeLocation": user.office,
             "employeeId": user.employee_id, "usageLocation": user.usage_location}
    return {k: v for k, v in props.items() if v}


def check_same(existing: dict | None, user: NewUser) -> None:
    """The account holding ``user.upn`` is theirs from an earlier attempt (same mailNickname and UPN, and
    their employeeId: ``require_own_account``), to be finished; anything else → ``ConflictError``."""
    if existing is None:
        raise ConflictError(f"{user.upn} is held by another object (a deleted user still in the recycle "
                            f"bin, or another object's proxy address)", system=SYSTEM, code="ObjectConflict")
    label = f"{existing.get('userPrincipalName') or user.upn} ({existing.get('displayName')!r})"
    if (existing.get("mailNickname") or "").lower() != user.username.lower() \
            or (existing.get("userPrincipalName") or user.upn).lower() != user.upn.lower():
        raise ConflictError(f"{label} already belongs to someone else (mailNickname "
                            f"{existing.get('mailNickname')!r}): nothing was changed on it; give "
                            f"{user.display_name} another username", system=SYSTEM, code="ObjectConflict")
    require_own_account(user, label, existing.get("employeeId"), system=SYSTEM, code="ObjectConflict")


class OnboardVerbs(GraphBase):

    def onboard(self, user: NewUser, *, groups: Sequence[str] = (), licenses: Sequence[str] = (),
                password: str | None = None, must_change: bool = True, enable: bool = True,
                plan: bool = False, verb: str = "onboard") -> Outcome:
        """Ensure the account exists with its attributes, manager, groups and licences (see module doc).
        ``password=None`` sets a random one nobody knows (use a Temporary Access Pass for day one)."""
        _validate(user, licenses)
        wanted_groups, manager_id, skus, existing = self._prepare(user, groups, licenses, read_user=plan)
        if plan:
            return self._plan(verb, user, existing, wanted_groups, manager_id, skus, password, enable)
        created_changes, state = self._create(user, password, must_change, enable)
        steps = self._followups(state, user, wanted_groups, manager_id, skus, enable=enable,
                                new=bool(created_changes))
        done = self.finish(verb, steps, plan=False)
        return Outcome(SYSTEM, verb, (*created_changes, *done.changes),
                       details={"id": state["id"], "created": bool(created_changes)})

    # -- 1: resolve and validate ----------------------------------------------------------------
    def _prepare(self, user: NewUser, groups: Sequence[str], licenses: Sequence[str], *, read_user: bool):
        lookups = self.group_calls(groups)
        manager = self.manager_call(user.manager) if user.manager else None
        skus = self.sku_call(licenses)
        state = self.user_calls(user.upn, groups=True, manager=True) if read_user else []
        calls = [*state, *lookups, *([manager] if manager else []), *([skus] if skus else [])]
        replies = dict(zip((c.id for c in calls), self.run(calls)))
        existing = self.user_from(state, [replies[c.id] for c in state]) if read_user else None
        self.remember_groups(lookups, [replies[c.id] for c in lookups], groups)
        if manager:
            self.remember_manager(user.manager, replies[manager.id])
        if skus:
            self.remember_skus(replies[skus.id])
        resolved = list({g["id"]: g for g in self.groups(groups)}.values())
        for group in resolved:
            self.check_group_writable(group)
        manager_id = self.manager_id(user.manager) if user.manager else None
        return resolved, manager_id, self.sku_ids(licenses), existing

    # -- 2: create, or recognise a re-run --------------------------------------------------------
    def _create(self, user: NewUser, password: str | None, must_change: bool,
                enable: bool) -> tuple[tuple[Change, ...], dict]:
        body = self._create_body(user, password, must_change, enable)
        call = Call("POST", "/users", body, accept=((400, None),), redact=(body["passwordProfile"]["password"],))
        reply = self.http.send(call)
        if reply.ok:
            state = {**{k: v for k, v in body.items() if k != "passwordProfile"}, "id": reply.body["id"],
                     "assignedLicenses": [], "_groups": [], "_manager": None}
            self.mark_fresh(state["id"], user.upn)
            return _create_changes(user, body, password), state
        if "ObjectConflict" not in detail_codes(reply.body):
            raise graph_error(call, reply)
        existing, _ = self.read_user(user.upn, groups=True, manager=True)
        check_same(existing, user)
        return (), existing

    @staticmethod
    def _create_body(user: NewUser, password: str | None, must_change: bool, enable: bool) -> dict:
        return {"accountEnabled": enable, "userPrincipalName": user.upn, "mailNickname": user.username,
                **_profile(user),
                "passwordProfile": {"password": password or random_password(),
                                    "forceChangePasswordNextSignIn": must_change if password else True}}

    # -- 3: everything else, in one batch -------------------------------------------------------
    def _followups(self, state: dict, user: NewUser, groups: list[dict], manager_id: str | None,
                   skus: list[str], *, enable: bool, new: bool) -> list[Step]:
        steps: list[Step] = []
        after = dict(state)
        if not new:
            turn_on = {"accountEnabled": True} if enable and not state.get("accountEnabled") else None
            patch = self.attributes_step(state, _profile(user), also=turn_on)
            if patch:
                steps.append(patch)
                after.update(patch.call.body)
        if manager_id:
            step = self.manager_step(state, manager_id, user.manager)
            steps += [step] if step else []
        have = {g["id"] for g in state.get("_groups") or []}
        steps += [self.add_member_step(state, g) for g in groups if g["id"] not in have]
        sets_location = not state.get("usageLocation") and after.get("usageLocation")
        for step in self.license_steps(after, skus, None):
            call = replace(step.call, depends_on=("patch",)) if sets_location and not new else step.call
            steps.append(Step(step.changes, call))
        return steps

    def _plan(self, verb: str, user: NewUser, existing: dict | None, groups: list[dict], manager_id: str | None,
              skus: list[str], password: str | None, enable: bool) -> Outcome:
        if existing is not None:
            check_same(existing, user)
            steps = self._followups(existing, user, groups, manager_id, skus, enable=enable, new=False)
            return self.finish(verb, steps, plan=True, details={"id": existing["id"], "created": False})
        body = self._create_body(user, "planned", True, enable)
        state = {**{k: v for k, v in body.items() if k != "passwordProfile"}, "id": "(new)",
                 "assignedLicenses": [], "_groups": [], "_manager": None}
        steps = self._followups(state, user, groups, manager_id, skus, enable=enable, new=True)
        changes = (*_create_changes(user, body, password), *(c for s in steps for c in s.changes))
        return Outcome(SYSTEM, verb, changes, planned=True, details={"created": True})


def _create_changes(user: NewUser, body: dict, password: str | None) -> tuple[Change, ...]:
    state = "enabled" if body["accountEnabled"] else "disabled"
    props = [Change(user.upn, p, None, v) for p, v in body.items() if p not in ("passwordProfile", "accountEnabled")]
    secret = "set (hidden)" if password else "random, not disclosed"
    return (Change(user.upn, "account", None, f"created, {state}"), *props, Change(user.upn, "password", None, secret))


def _validate(user: NewUser, licenses: Sequence[str]) -> None:
    if not _UPN.match(user.upn):
        raise InvalidInputError(f"{user.upn!r} is not a valid user principal name (ASCII letters, digits and "
                                f"' . - _ ! # ^ ~ before a verified domain)", system=SYSTEM, code="InvalidUpn")
    if not _NICKNAME.match(user.username):
        raise InvalidInputError(f"{user.username!r} is not a valid mailNickname", system=SYSTEM,
                                code="InvalidMailNickname")
    if licenses and not user.usage_location:
        raise InvalidInputError(f"{user.upn}: licences need a usage location (ISO country code)", system=SYSTEM,
                                code="UsageLocationMissing")
