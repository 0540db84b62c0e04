"""Loading YAML from config/ with line numbers, so every mistake can be pointed at.

``load_yaml`` returns plain Python values, except that every mapping is a ``Located``
dict that remembers the line of each key. ``ConfigError`` renders as
``path:line: message``, the one line a person needs to fix the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A file under config/ is missing, unreadable or says something invalid."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class Located(dict):
    """A mapping read from YAML, with ``line`` (its own) and ``lines`` (per key)."""

    line: int = 0
    lines: dict

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    out = Located()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise ConfigError(loader.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path | str) -> Any:
    """Parse one YAML file; syntax errors become ``ConfigError`` with the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot read: {exc}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | str = "<string>") -> Any:
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(path, line, f"invalid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()


def require_mapping(value: Any, path: Path | str, what: str) -> Located:
    if not isinstance(value, Located):
        line = getattr(value, "line", None)
        raise ConfigError(path, line, f"{what} must be a mapping of keys to values")
    return value


def load_optional_mapping(path: Path, known: set[str]) -> Located | None:
    """An optional YAML file holding a mapping with only ``known`` keys; None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    data = require_mapping(load_yaml(path), path, path.name)
    for key in data:
        if key not in known:
            raise ConfigError(path, data.line_of(key), f"unknown key {key!r} (known: {', '.join(sorted(known))})")
    return data
