"""Wiring: every listener module exposes register(app, services)."""
from slack_bolt import App

from bot.listeners import answers, commands, digest, home, messages, requests, runs
from connectors.services import Services


def register_listeners(app: App, services: Services) -> None:
    for module in (messages, answers, requests, commands, home, runs, digest):
        module.register(app, services)
