"""The composition root for everything outside Slack: build_services(settings) -> Services."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from connectors.store import build_store
from workflows.engine import Engine
from workflows.helpdesk import Helpdesk
from workflows.org import OrgConfig
from workflows.ports import Store
from workflows.run_policy import RunPolicy

# The sandbox's existing people: managers that new hires report to (usernames used in the examples).
SANDBOX_PEOPLE = ("jane.doe", "sam.reed", "ben.okafor")


def _no_wake() -> None:
    """No worker in this process: the worker process finds the work at its next poll."""


@dataclass
class Services:
    store: Store
    org: OrgConfig
    helpdesk: Helpdesk
    engine: Engine
    run_policy: RunPolicy
    directories: Mapping[str, Any] = field(default_factory=dict)
    reminders: Any = None   # config/reminders.yaml (workflows.digest.ReminderPolicy), validated at start-up
    outbox_lease: float = 120.0   # seconds an outbox sender holds a row (ITBOT_OUTBOX_LEASE)
    # Tells this process's worker there is work (a decision, a finished task); listeners never do it themselves.
    wake: Callable[[], None] = _no_wake

    @property
    def teams(self) -> Any:
        return self.helpdesk.teams

    def close(self) -> None:
        for directory in self.directories.values():
            close = getattr(directory, "close", None)
            if close:
                close()
        close = getattr(self.store, "close", None)
        if close:
            close()


def load_helpdesk_config(config_dir: Path) -> dict[str, Any]:
    """Load and validate everything the help desk reads from config/ (fails fast with file:line)."""
    from workflows.routing import load_routing
    from workflows.teams import load_teams
    from workflows.triage import KnowledgeBase, TriageModel

    teams = load_teams(config_dir)
    return {"teams": teams, "routing": load_routing(config_dir, teams),
            "model": TriageModel.from_config(config_dir), "kb": KnowledgeBase.from_config(config_dir)}


def load_config(config_dir: Path) -> dict[str, Any]:
    """Everything in config/, validated (file:line on the first mistake): what start-up and check-config read."""
    from workflows.checklist import load_checklists
    from workflows.digest import load_reminder_policy
    from workflows.run_policy import load_run_policy

    config = load_helpdesk_config(config_dir)
    return {**config, "checklists": load_checklists(config_dir, config["teams"]),
            "policy": load_run_policy(config_dir, config["teams"]), "reminders": load_reminder_policy(config_dir)}


def sandbox_directories(checklists: Mapping[str, Any]) -> dict[str, Any]:
    """In-memory AD and Entra seeded with every group and licence the checklists name (demo, chat)."""
    from connectors.sandbox import SandboxAD, SandboxEntra

    groups: set[str] = set()
    licenses: set[str] = set()
    for checklist in checklists.values():
        for names in checklist.department_groups.values():
            groups.update(names)
        for names in checklist.department_licenses.values():
            licenses.update(names)
        for step in checklist.steps:
            groups.update(step.args.get("groups", ()))
            groups.update(step.args.get("keep", ()))
            licenses.update(step.args.get("licenses", ()))
    return {"ad": SandboxAD(users=SANDBOX_PEOPLE, groups=sorted(groups), upn_domain="corp.example.test"),
            "entra": SandboxEntra(users=SANDBOX_PEOPLE, groups=sorted(groups), licenses=sorted(licenses),
                                  upn_domain="corp.example.test")}


def hybrid_directories(directories: Mapping[str, Any], policy: Any) -> dict[str, Any]:
    """In a hybrid tenant (directory.yaml ``entra.accounts``: synced, or auto with AD configured) the Entra
    connector is wrapped so that accounts, enabling and AD-owned attributes are left to AD Connect."""
    from workflows.directory_plans import DirectoryPolicy, entra_accounts_synced
    from workflows.hybrid import SyncedEntra

    directories = dict(directories)
    if "entra" in directories and entra_accounts_synced(directories, policy or DirectoryPolicy()):
        directories["entra"] = SyncedEntra(directories["entra"])
    return directories


def _username_chooser(config_dir: Path, directories: Mapping[str, Any], store: Any):
    """Chooses a hire's username: free in the directories, and not held by another onboarding under way."""
    from workflows.directory_plans import choose_username
    from workflows.naming import load_naming

    naming = load_naming(config_dir)

    def held(candidate: str) -> bool:
        return store.find_live_run("onboarding", {"username": candidate}) is not None

    return lambda person: choose_username(person, naming, directories, held)


def build_services(settings: Any, *, clock: Any = None, directories: Mapping[str, Any] | None = None) -> Services:
    """Validate config/, open the store (running migrations), connect directories, assemble the workflows."""
    from connectors.directories import build_directories

    config_dir = Path(settings.config_dir)
    everything = load_config(config_dir)
    checklists, policy = everything["checklists"], everything["policy"]
    config = {k: everything[k] for k in ("teams", "routing", "model", "kb")}
    if directories is None:
        sandbox = getattr(settings, "directory_mode", "real") == "sandbox"
        directories = sandbox_directories(checklists) if sandbox else \
            hybrid_directories(build_directories(settings), getattr(settings, "directory", None))
    store = build_store(settings.database_url)
    extra = {"clock": clock} if clock else {}
    helpdesk = Helpdesk(store=store, **config, **extra)
    engine = Engine(store=store, checklists=checklists, teams=config["teams"], policy=policy,
                    directories=directories, default_timezone=settings.org.default_timezone,
                    choose_username=_username_chooser(config_dir, directories, store),
                    directory_policy=getattr(settings, "directory", None), **extra)
    return Services(store=store, org=settings.org, helpdesk=helpdesk, engine=engine, run_policy=policy,
                    directories=directories, reminders=everything["reminders"],
                    outbox_lease=getattr(settings, "outbox_lease", 120.0))
