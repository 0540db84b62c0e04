"""Microsoft's Graph v1.0 CSDL (/work/shared/graph) as an independent check on what the connector sends.

``Csdl.check(method, url, body)`` walks the URL through entity sets, keys, navigation properties, type
casts and bound actions, then checks ``$select`` names and every body property (nested complex types
included) against the type or the action's parameters. It returns a list of problems, empty when the
request is one Graph's own schema describes.
"""
from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CSDL_PATH = Path(os.environ.get("GRAPH_CSDL", "/work/shared/graph/v1.0-cleanMetadata.xml"))
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_NS = "microsoft.graph."


def _name(type_name: str) -> str:
    inner = type_name[len("Collection("):-1] if type_name.startswith("Collection(") else type_name
    return _NS + inner[len("graph."):] if inner.startswith("graph.") else inner


def _is_collection(type_name: str) -> bool:
    return type_name.startswith("Collection(")


@dataclass
class Type:
    name: str
    base: str | None
    props: dict[str, str] = field(default_factory=dict)
    navs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    name: str
    binding: str
    params: dict


class Csdl:
    def __init__(self, path: Path = CSDL_PATH):
        root = ET.parse(path).getroot()
        schema = next(s for s in root.iter(f"{_EDM}Schema") if s.get("Namespace") == "microsoft.graph")
        self.types: dict[str, Type] = {}
        for node in [*schema.findall(f"{_EDM}EntityType"), *schema.findall(f"{_EDM}ComplexType")]:
            t = Type(_NS + node.get("Name"), _name(node.get("BaseType")) if node.get("BaseType") else None)
            t.props = {p.get("Name"): p.get("Type") for p in node.findall(f"{_EDM}Property")}
            t.navs = {p.get("Name"): p.get("Type") for p in node.findall(f"{_EDM}NavigationProperty")}
            self.types[t.name] = t
        self.actions: list[Action] = []
        for node in schema.findall(f"{_EDM}Action"):
            params = [(p.get("Name"), p.get("Type")) for p in node.findall(f"{_EDM}Parameter")]
            if node.get("IsBound") == "true" and params:
                self.actions.append(Action(node.get("Name"), params[0][1], dict(params[1:])))
        container = schema.find(f"{_EDM}EntityContainer")
        self.sets = {s.get("Name"): s.get("EntityType") for s in container.findall(f"{_EDM}EntitySet")}
        self.capabilities: dict[str, dict[str, bool]] = {}
        for node in root.iter(f"{_EDM}Annotations"):
            self.capabilities.setdefault(node.get("Target"), {}).update(_bool_record(node))

    # -- lookups, following base types ---------------------------------------------------------
    def lineage(self, type_name: str) -> list[Type]:
        out, name = [], type_name
        while name and name in self.types:
            out.append(self.types[name])
            name = self.types[name].base
        return out

    def prop(self, type_name: str, name: str) -> str | None:
        return next((t.props[name] for t in self.lineage(type_name) if name in t.props), None)

    def nav(self, type_name: str, name: str) -> str | None:
        return next((t.navs[name] for t in self.lineage(type_name) if name in t.navs), None)

    def action(self, type_name: str, name: str, collection: bool = False) -> Action | None:
        kinds = {t.name for t in self.lineage(type_name)}
        for action in self.actions:
            if action.name == name and _name(action.binding) in kinds and _is_collection(action.binding) == collection:
                return action
        return None

    def is_a(self, type_name: str, ancestor: str) -> bool:
        return any(t.name == ancestor for t in self.lineage(type_name))

    # -- checking a request --------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[str, bool, Action | None, list[str]]:
        """(type, is collection, action, problems) for a path below the service root."""
        segments = [unquote(s) for s in path.strip("/").split("/") if s]
        if not segments or segments[0] not in self.sets:
            return "", False, None, [f"no entity set {segments[:1]}"]
        kind, many, action, trail = self.sets[segments[0]], True, None, [segments[0]]
        for seg in segments[1:]:
            trail.append(seg)
            if seg in ("$ref", "$count"):
                continue
            if seg.startswith(_NS) and seg in self.types:
                if not self.is_a(seg, kind):
                    return kind, many, None, [f"cast {seg} is not a {kind}"]
                kind = seg
            elif many:
                if self.action(kind, seg, collection=True):
                    return kind, many, self.action(kind, seg, True), []
                many = False          # a key
            elif self.nav(kind, seg):
                target = self.nav(kind, seg)
                kind, many = _name(target), _is_collection(target)
            elif self.action(kind, seg):
                action = self.action(kind, seg)
            else:
                return kind, many, None, [f"{kind} has no property, navigation or action {seg!r} ({'/'.join(trail)})"]
        return kind, many, action, []

    def check(self, method: str, url: str, body=None) -> list[str]:
        parts = urlsplit(url)
        kind, _many, action, problems = self.resolve(parts.path)
        if problems:
            return problems
        for names in parse_qs(parts.query).get("$select", []):
            problems += [f"$select {n!r} not on {kind}" for n in names.split(",") if not self.prop(kind, n)]
        if not isinstance(body, dict) or method not in ("POST", "PATCH", "PUT"):
            return problems
        if parts.path.endswith("/$ref"):
            return problems + ([] if set(body) == {"@odata.id"} else [f"$ref body must be @odata.id only: {body}"])
        if action:
            return problems + [f"{action.name} has no parameter {k!r}" for k in body if k not in action.params] + \
                [p for k, v in body.items() if k in action.params for p in self.check_value(action.params[k], v, k)]
        return problems + self.check_object(kind, body)

    def check_object(self, kind: str, body: dict, where: str = "") -> list[str]:
        problems = []
        for key, value in body.items():
            if "@odata" in key:
                continue
            declared = self.prop(kind, key)
            if declared is None:
                problems.append(f"{kind} has no property {where}{key!r}")
            else:
                problems += self.check_value(declared, value, f"{where}{key}")
        return problems

    def check_value(self, declared: str, value, where: str) -> list[str]:
        inner = _name(declared)
        if _is_collection(declared):
            if not isinstance(value, list):
                return [f"{where} must be a list"]
            return [p for v in value for p in self.check_value(inner, v, where + "[]")]
        if inner in self.types:
            return self.check_object(inner, value, where + ".") if isinstance(value, dict) else [f"{where}: object"]
        expected = {"Edm.String": str, "Edm.Boolean": bool, "Edm.Int32": int, "Edm.Guid": str}.get(inner)
        if expected and value is not None and not isinstance(value, expected):
            return [f"{where} should be {inner}, got {type(value).__name__}"]
        return []


def _bool_record(annotations) -> dict:
    out = {}
    for ann in annotations.findall(f"{_EDM}Annotation"):
        for pv in ann.iter(f"{_EDM}PropertyValue"):
            if pv.get("Bool") is not None:
                out[f"{ann.get('Term').rsplit('.', 1)[-1]}.{pv.get('Property')}"] = pv.get("Bool") == "true"
    return out


@functools.lru_cache(maxsize=1)
def load() -> Csdl:
    return Csdl()
