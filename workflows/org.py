"""The organisation-wide settings in config/itbot.yaml (names, time zone, contacts)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.config import ConfigError, load_yaml, require_mapping

_KEYS = {"company", "bot_name", "default_timezone", "it_contact"}


@dataclass(frozen=True)
class OrgConfig:
    company: str = "Example Corp"
    bot_name: str = "itbot"
    default_timezone: str = "UTC"
    it_contact: str = "the IT help desk"


def load_org(config_dir: Path) -> OrgConfig:
    path = Path(config_dir) / "itbot.yaml"
    data = require_mapping(load_yaml(path), path, "itbot.yaml")
    for key in data:
        if key not in _KEYS:
            raise ConfigError(path, data.line_of(key), f"unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
    values = {}
    for key in _KEYS & data.keys():
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(path, data.line_of(key), f"{key} must be a non-empty string")
        values[key] = value.strip()
    tz = values.get("default_timezone", OrgConfig.default_timezone)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, data.line_of("default_timezone"), f"unknown time zone {tz!r} (use an IANA name such as Europe/London)") from None
    return OrgConfig(**values)
