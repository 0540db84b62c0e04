"""The `itbot` command: serve, demo, chat, migrate, status, check-config, directory plan-onboarding/plan-offboarding."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.settings import Settings, SettingsError
from workflows.config import ConfigError
from workflows.ports import StoreError


def _serve(args: argparse.Namespace) -> int:
    from bot.run import serve
    return serve(Settings.from_env())


def _clock(args: argparse.Namespace) -> int:
    from bot.clock import run_clock
    return run_clock(Settings.from_env(require_signing=False))


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo
    return run_demo(verbose=args.verbose)


def _chat(args: argparse.Namespace) -> int:
    from bot.chat import run_chat
    return run_chat()


def _migrate(args: argparse.Namespace) -> int:
    from connectors.store import build_store, current_revision
    store = build_store(Settings.from_env(require_slack=False).database_url)
    print(f"schema at revision {current_revision(store.engine)}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from bot.worker import run_worker
    return run_worker(Settings.from_env(require_signing=False), once=args.once)


def _import(args: argparse.Namespace) -> int:
    from bot.import_cli import run_import

    class LazyEngine:
        """Opens the store only once the whole file has been checked."""

        def start_run(self, event):
            from connectors.services import build_services
            if not hasattr(self, "engine"):
                self.engine = build_services(Settings.from_env(require_slack=False)).engine
            return self.engine.start_run(event)

    return run_import(args.file, LazyEngine())


def _triage(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.triage_cli import TriageInputError, run_triage
    if not args.text and args.jsonl is None:
        print("itbot: error: give a message to triage, or --jsonl FILE", file=sys.stderr)
        return 2
    settings = Settings.from_env(require_slack=False)
    try:
        return run_triage(args.text, Path(args.jsonl) if args.jsonl else None, settings.config_dir)
    except TriageInputError as exc:
        print(f"itbot: error: {exc}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace) -> int:
    from bot.report_cli import run_report
    return run_report(args)


def _status(args: argparse.Namespace) -> int:
    from bot.status_cli import run_status
    return run_status(args)


def _check_config(args: argparse.Namespace) -> int:
    """Every mistake at once (exit 2 if any); with none, the warnings. The token is tried when one is set."""
    from bot.check_config import check_everything

    findings, config_dir, loaded = check_everything()
    for error in findings.errors:
        print(f"itbot: error: {error}", file=sys.stderr)
    for warning in findings.warnings if not findings.errors else ():   # mistakes first; warnings once they are mended
        print(f"itbot: warning: {warning}", file=sys.stderr)
    if not findings.errors:
        steps = sum(len(c.steps) for c in loaded["checklists"].values())
        print(f"config in {config_dir} is valid: {len(loaded['kb'])} articles, {len(loaded['checklists'])} "
              f"checklists ({steps} steps)")
    for note in findings.notes:
        print(f"itbot: {note}", file=sys.stderr if findings.errors else sys.stdout)
    return 2 if findings.errors else 0


def _onboarding_assignments(settings: Settings, person: Any) -> dict:
    """The groups and licences the onboarding checklist gives ``person`` (planned with directory.yaml's)."""
    from workflows.assignments import checklist_assignments
    from workflows.checklist import load_checklists
    from workflows.teams import load_teams

    from pathlib import Path

    if not (Path(settings.config_dir) / "checklists" / "onboarding.yaml").exists():
        return {}   # a config without checklists: directory.yaml alone says what a hire gets
    checklists = load_checklists(settings.config_dir, load_teams(settings.config_dir))
    return checklist_assignments(checklists["onboarding"], person) if "onboarding" in checklists else {}


def _directory_plan(args: argparse.Namespace) -> int:
    """Print what onboarding PERSON.json / offboarding USER would change; nothing is written.
    Exit 0: the plan was printed · 1: a directory refused or could not be reached · 2: fix the input or
    configuration (person record, naming, no directory configured)."""
    from bot.logs import configure_logging
    from connectors.directories import build_directories, close_directories
    from workflows.directory import DirectoryError
    from workflows.directory_plans import (PlanError, plan_offboarding, plan_onboarding, read_person,
                                           render_plan)
    from workflows.naming import NamingError, load_naming

    settings = Settings.from_env(require_slack=False)
    configure_logging("WARNING", "text", settings.secrets())
    try:
        person = read_person(args.person) if args.plan == "plan-onboarding" else None
        assigned = _onboarding_assignments(settings, person) if person is not None else None
        naming = load_naming(settings.config_dir)
        directories = build_directories(settings)   # {} when none is configured: the plan says so
    except (PlanError, NamingError, ValueError) as exc:
        print(f"itbot: error: {exc}", file=sys.stderr)
        return 2
    try:
        if person is not None:
            plan = plan_onboarding(person, naming, directories, settings.directory, checklist=assigned)
        else:
            plan = plan_offboarding(args.user, directories, settings.directory)
    except (PlanError, NamingError) as exc:
        print(f"itbot: error: {exc}", file=sys.stderr)
        return 2
    except DirectoryError as exc:
        print(f"itbot: error: {exc}", file=sys.stderr)
        return 1
    finally:
        close_directories(directories)
    if args.json:
        print(json.dumps(plan.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(render_plan(plan))
    return 0


def version() -> str:
    """The installed distribution's version (pyproject.toml's, as built); a bare checkout says so."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version
    try:
        return dist_version("itbot")
    except PackageNotFoundError:
        return "0+unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="itbot", description="itbot, the IT front door in Slack.")
    parser.add_argument("--version", action="version", version=f"itbot {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP on $PORT)").set_defaults(func=_serve)
    sub.add_parser("clock", help="run scheduled jobs (SLA sweep); one leader among several clocks").set_defaults(func=_clock)
    demo = sub.add_parser("demo", help="a scripted tour through the real app against a local fake Slack")
    demo.add_argument("-v", "--verbose", action="store_true", help="also print the app's log lines")
    demo.set_defaults(func=_demo)
    sub.add_parser("chat", help="talk to itbot in this terminal (same path as demo, interactive)").set_defaults(func=_chat)
    sub.add_parser("migrate", help="bring the database schema up to date and print its revision").set_defaults(func=_migrate)
    worker = sub.add_parser("worker", help="advance onboarding/offboarding runs (several may run at once)")
    worker.add_argument("--once", action="store_true", help="one pass over due steps, then exit")
    worker.set_defaults(func=_worker)
    imp = sub.add_parser("import", help="start onboarding, offboarding and role-change runs from a CSV file "
                                        "(every row is checked first; nothing starts from a file with mistakes)")
    imp.add_argument("file", metavar="FILE", help="CSV with a header row (see config/examples/people.csv)")
    imp.set_defaults(func=_import)
    triage = sub.add_parser("triage", help="print what the help desk makes of a message (JSON)")
    triage.add_argument("text", nargs="*", help="the message")
    triage.add_argument("--jsonl", metavar="FILE", help="JSON lines with a \"text\" field; one JSON object out per line")
    triage.set_defaults(func=_triage)
    from bot.report_cli import add_report_arguments
    add_report_arguments(sub.add_parser(
        "report", help="the department's numbers since --since: requests by team and priority, response and "
                       "resolution times, SLA breaches, deflection, onboarding (text, --json, --html FILE)")
    ).set_defaults(func=_report)
    from bot.kb_cli import add_kb_arguments
    add_kb_arguments(sub.add_parser("kb", help="check the knowledge base on labelled questions (eval, calibrate)"))
    from bot.status_cli import add_status_arguments
    add_status_arguments(sub.add_parser(
        "status", help="the worker's queue: due, running, waiting (on what), awaiting approval, expired leases")
    ).set_defaults(func=_status)
    sub.add_parser("check-config", help="validate config/ and the environment without starting").set_defaults(func=_check_config)
    directory = sub.add_parser("directory", help="plan directory changes (Active Directory, Entra ID)")
    plans = directory.add_subparsers(dest="plan", required=True)
    onboarding = plans.add_parser("plan-onboarding", help="print what onboarding the person in PERSON.json would "
                                                          "change in each configured directory; changes nothing")
    onboarding.add_argument("person", metavar="PERSON.json", help="the new hire (see config/examples/person.json)")
    offboarding = plans.add_parser("plan-offboarding", help="print what offboarding USER would change in each "
                                                            "configured directory; changes nothing")
    offboarding.add_argument("user", metavar="USER", help="username (sAMAccountName / mailNickname) or UPN")
    for command in (onboarding, offboarding):
        command.add_argument("--json", action="store_true", help="print the plan as JSON")
        command.set_defaults(func=_directory_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, ConfigError, StoreError) as exc:
        print(f"itbot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
