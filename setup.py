"""Packaging beyond what pyproject.toml can say: config/ ships in the wheel as the package data of
``bot.default_config`` (the configuration itbot reads when there is no ./config), without moving it in the
source tree. Everything else is in pyproject.toml."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["bot*", "workflows*", "connectors*"]) + ["bot.default_config"],
    package_dir={"bot.default_config": "config"},
)
