"""The interfaces workflows depend on; connectors implement them."""
from __future__ import annotations

from typing import Any, Protocol

from workflows.models import AuditEntry, ItRequest, Person


class StoreError(RuntimeError):
    """The store could not do what was asked (unreachable, bad state)."""


class LiveRunExists(StoreError):
    """A run of this kind is already under way for this person (the store holds one live run per person)."""

    def __init__(self, run: Any):
        super().__init__(f"a {run.kind} run is already under way for this person (run {run.id})")
        self.run = run


class UsernameHeld(StoreError):
    """Another live onboarding holds this username (the store holds each username for one live onboarding)."""

    def __init__(self, username: str):
        super().__init__(f"the username {username} is held by another onboarding under way")
        self.username = username


class Store(Protocol):
    def ping(self) -> None: ...
    def save_person(self, person: Person) -> Person: ...
    def get_person_by_slack_id(self, slack_user_id: str) -> Person | None: ...
    def save_request(self, request: ItRequest) -> ItRequest: ...
    def get_request(self, request_id: int) -> ItRequest | None: ...
    def count_requests(self, requester_slack_id: str, within: Any = None) -> int: ...
    def list_requests(self, *, requester_slack_id: str | None = None, status: str | None = None) -> list[ItRequest]: ...
    def audit(self, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> AuditEntry: ...
    def audit_trail(self, subject: str | None = None) -> list[AuditEntry]: ...
    def mark_event_seen(self, event_id: str) -> bool: ...
