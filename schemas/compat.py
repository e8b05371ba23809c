"""Schema evolution checks: can each version read the previous one's data, and vice versa?

A reader resolves a writer's data under Avro's schema-resolution rules. Between two adjacent
versions of a schema we check both directions:

- backward: the new version reads data written with the old one (consumers upgrade first);
- forward: the old version reads data written with the new one (producers upgrade first).

Either direction failing means a rolling upgrade would leave some reader unable to read some
message. Each problem is a ``Finding`` naming the schema, versions, direction and field path.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.catalogue import Catalogue, SchemaVersion, load_catalogue

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})
PROMOTIONS = {
    "int": ("long", "float", "double"),
    "long": ("float", "double"),
    "float": ("double",),
    "string": ("bytes",),
    "bytes": ("string",),
}

BACKWARD = "backward"
FORWARD = "forward"
DEFINITION = "definition"


@dataclass(frozen=True)
class Finding:
    """One reason a reader version cannot read a writer version's data."""

    schema: str
    writer_version: int
    reader_version: int
    direction: str
    path: str
    problem: str

    def __str__(self) -> str:
        if self.direction == DEFINITION:
            where = f"{self.schema} v{self.writer_version}"
        else:
            where = (f"{self.schema} v{self.reader_version} reading "
                     f"v{self.writer_version} ({self.direction})")
        return f"{where}: {self.path}: {self.problem}"


def check_catalogue(root: Path | str | None = None, *, transitive: bool = False) -> list[Finding]:
    """Findings for every schema in the catalogue under ``root`` (default: the shipped one).

    Each version is checked against the previous one in both directions, or against every
    earlier one with ``transitive=True``; every default is checked against its field's type.
    An empty list means every upgrade order is safe. A catalogue that cannot be loaded raises
    ``CatalogueError``.
    """
    return check(load_catalogue(root), transitive=transitive)


def check(catalogue: Catalogue, *, transitive: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    for name in catalogue.names():
        versions = catalogue.versions[name]
        for version in versions:
            findings += [
                Finding(name, version.version, version.version, DEFINITION, path, problem)
                for path, problem in default_problems(version.schema)
            ]
        for i, new in enumerate(versions):
            for old in versions[:i] if transitive else versions[max(i - 1, 0):i]:
                findings += check_pair(old, new)
    return findings


NEW_KINDS = "newEventKinds"
"""A version's declaration of the event kinds it adds: ``{"event_type symbol": "payload record"}``.

An older reader cannot resolve a payload record its union lacks, so a new kind of event can
never pass the forward check; a version that declares one is checked forward without it (the
symbol left out of the ``event_type`` enum, the record out of the ``payload`` union), so every
other change is still held to both directions. The declaration is a custom attribute: not in
the Parsing Canonical Form, so it does not change the fingerprint."""


def check_pair(old: SchemaVersion, new: SchemaVersion) -> list[Finding]:
    """Both directions between two versions of one schema (forward without the kinds ``new``
    declares in ``newEventKinds`` that ``old`` does not know)."""
    pairs = ((BACKWARD, old, old.schema, new, new.schema),
             (FORWARD, new, without_new_kinds(new.schema, old.schema), old, old.schema))
    return [
        Finding(new.name, writer.version, reader.version, direction, path, problem)
        for direction, writer, writer_schema, reader, reader_schema in pairs
        for path, problem in resolution_problems(writer_schema, reader_schema)
    ]


def without_new_kinds(schema: dict, older: dict) -> dict:
    """``schema`` without the event kinds it declares in ``newEventKinds`` and ``older`` lacks."""
    declared = schema.get(NEW_KINDS) or {}
    old_symbols = set(_enum_symbols(older))
    added = {symbol: record for symbol, record in declared.items() if symbol not in old_symbols}
    if not added:
        return schema
    stripped = copy.deepcopy(schema)
    for field in stripped.get("fields", []):
        kind = field["type"]
        if field["name"] == "event_type" and isinstance(kind, dict) and kind.get("type") == "enum":
            kind["symbols"] = [s for s in kind["symbols"] if s not in added]
        elif field["name"] == "payload" and isinstance(kind, list):
            field["type"] = [b for b in kind if not (isinstance(b, dict) and b.get("name") in added.values())]
    return stripped


def _enum_symbols(schema: dict) -> list[str]:
    for field in schema.get("fields", []):
        if field["name"] == "event_type" and isinstance(field["type"], dict):
            return list(field["type"].get("symbols", []))
    return []


def resolution_problems(writer: Any, reader: Any) -> list[tuple[str, str]]:
    """``(field path, problem)`` for each way ``reader`` fails to read ``writer``'s data."""
    writer, reader = copy.deepcopy(writer), copy.deepcopy(reader)
    w_names, r_names = _index(writer), _index(reader)
    resolver = _Resolver(w_names, r_names)
    return list(resolver.check(_resolve(writer, w_names, ""), _resolve(reader, r_names, ""), ""))


# --- resolution rules --------------------------------------------------------------------


class _Resolver:
    def __init__(self, w_names: dict[str, dict], r_names: dict[str, dict]) -> None:
        self.w_names = w_names
        self.r_names = r_names
        self.seen: set[tuple[int, int]] = set()

    def w(self, schema: Any, namespace: str) -> Any:
        return _resolve(schema, self.w_names, namespace)

    def r(self, schema: Any, namespace: str) -> Any:
        return _resolve(schema, self.r_names, namespace)

    def check(self, w: Any, r: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(w, list):
            yield from self._writer_union(w, r, path)
        elif isinstance(r, list):
            branch = _pick_branch(w, r, self.r_names)
            if branch is None:
                yield path or "(root)", f"reader union {_describe_all(r)} has no branch for writer's {_describe(w)}"
            else:
                yield from self.check(w, branch, path)
        else:
            yield from self._same_kind(w, r, path)

    def _writer_union(self, w: list, r: Any, path: str) -> Iterator[tuple[str, str]]:
        many = sum(1 for b in w if _type(b) != "null") > 1
        for branch in w:
            branch_path = _join(path, branch.get("name", "")) if many and _is_named(branch) else path
            if isinstance(r, list):
                target = _pick_branch(branch, r, self.r_names)
                if target is None:
                    yield (branch_path or "(root)",
                           f"writer's {_describe(branch)} has no matching branch in reader union "
                           f"{_describe_all(r)}")
                    continue
            else:
                target = r
            yield from self.check(branch, target, branch_path)

    def _same_kind(self, w: dict, r: dict, path: str) -> Iterator[tuple[str, str]]:
        wt, rt = _type(w), _type(r)
        where = path or "(root)"
        if wt in PRIMITIVES or rt in PRIMITIVES:
            if wt != rt and rt not in PROMOTIONS.get(wt, ()):
                yield where, f"type changed from {_describe(w)} to {_describe(r)}, which Avro cannot promote"
            return
        if wt != rt:
            yield where, f"type changed from {_describe(w)} to {_describe(r)}"
            return
        if wt in NAMED and not _names_match(w, r):
            yield where, f"{wt} renamed from {w['name']} to {r['name']} without an alias"
            return
        key = (id(w), id(r))
        if key in self.seen:
            return
        self.seen.add(key)
        if wt == "record":
            yield from self._record(w, r, path)
        elif wt == "enum":
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            if missing and "default" not in r:
                yield where, (f"symbols {', '.join(missing)} are unknown to the reader and its "
                              f"enum {r['name']} has no default")
        elif wt == "fixed":
            if w["size"] != r["size"]:
                yield where, f"fixed size changed from {w['size']} to {r['size']}"
        elif wt == "array":
            yield from self.check(self.w(w["items"], w["_ns"]), self.r(r["items"], r["_ns"]),
                                  f"{path}[]")
        elif wt == "map":
            yield from self.check(self.w(w["values"], w["_ns"]), self.r(r["values"], r["_ns"]),
                                  f"{path}{{}}")

    def _record(self, w: dict, r: dict, path: str) -> Iterator[tuple[str, str]]:
        w_ns, r_ns = _namespace_of(w), _namespace_of(r)
        w_fields = {f["name"]: f for f in w["fields"]}
        for field in r["fields"]:
            field_path = _join(path, field["name"])
            source = next(
                (w_fields[n] for n in [field["name"], *field.get("aliases", [])] if n in w_fields),
                None,
            )
            if source is None:
                if "default" not in field:
                    yield field_path, ("is missing from the writer and the reader has no default "
                                       "for it; give it a default")
                continue
            yield from self.check(self.w(source["type"], w_ns), self.r(field["type"], r_ns),
                                  field_path)


def _pick_branch(w: Any, union: list, r_names: dict[str, dict]) -> Any:
    """The first reader branch matching the writer exactly, else the first it promotes to."""
    wt = _type(w)
    for branch in union:
        if _type(branch) == wt and (wt not in NAMED or _names_match(w, branch)):
            return branch
    for branch in union:
        if _type(branch) in PROMOTIONS.get(wt, ()):
            return branch
    return None


# --- defaults ----------------------------------------------------------------------------


def default_problems(schema: dict) -> list[tuple[str, str]]:
    """``(field path, problem)`` for each field default that does not fit its field's type."""
    schema = copy.deepcopy(schema)
    names = _index(schema)
    problems: list[tuple[str, str]] = []
    seen: set[int] = set()

    def walk(node: Any, path: str, namespace: str) -> None:
        node = _resolve(node, names, namespace)
        if isinstance(node, list):
            for branch in node:
                walk(branch, _join(path, branch.get("name", "")) if _is_named(branch) else path,
                     namespace)
            return
        if id(node) in seen:
            return
        seen.add(id(node))
        kind = _type(node)
        if kind == "record":
            ns = _namespace_of(node)
            for field in node["fields"]:
                field_path = _join(path, field["name"])
                if "default" in field:
                    target = _resolve(field["type"], names, ns)
                    if isinstance(target, list):
                        target = _resolve(target[0], names, ns)
                    if not _fits(field["default"], target, names, ns):
                        problems.append((field_path, f"default {field['default']!r} does not fit "
                                         f"{_describe(target)} (a union's default must fit its "
                                         "first branch)"))
                walk(field["type"], field_path, ns)
        elif kind == "enum" and "default" in node and node["default"] not in node["symbols"]:
            problems.append((path or "(root)", f"enum default {node['default']!r} is not a symbol"))
        elif kind == "array":
            walk(node["items"], f"{path}[]", node["_ns"])
        elif kind == "map":
            walk(node["values"], f"{path}{{}}", node["_ns"])

    walk(schema, "", "")
    return problems


def _fits(value: Any, schema: Any, names: dict[str, dict], namespace: str) -> bool:
    kind = _type(schema)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("string", "bytes", "fixed"):
        return isinstance(value, str)
    if kind == "enum":
        return value in schema["symbols"]
    if kind == "array":
        items = _resolve(schema["items"], names, schema["_ns"])
        return isinstance(value, list) and all(_fits(v, items, names, namespace) for v in value)
    if kind == "map":
        values = _resolve(schema["values"], names, schema["_ns"])
        return isinstance(value, dict) and all(_fits(v, values, names, namespace) for v in value.values())
    if kind == "record":
        ns = _namespace_of(schema)
        return isinstance(value, dict) and all(
            _fits(value[f["name"]], _first(_resolve(f["type"], names, ns), names, ns), names, ns)
            if f["name"] in value else "default" in f
            for f in schema["fields"]
        )
    return True


def _first(schema: Any, names: dict[str, dict], namespace: str) -> Any:
    return _resolve(schema[0], names, namespace) if isinstance(schema, list) else schema


# --- names -------------------------------------------------------------------------------


def _index(schema: Any) -> dict[str, dict]:
    """Full name -> definition for every named type, each tagged with its namespace."""
    names: dict[str, dict] = {}

    def visit(node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for branch in node:
                visit(branch, namespace)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if isinstance(kind, (dict, list)):
            visit(kind, namespace)
            return
        if kind in NAMED:
            full = _full_name(node, namespace)
            names[full] = node
            namespace = full.rpartition(".")[0]
        node_ns = namespace
        if kind == "record":
            for field in node.get("fields", []):
                visit(field.get("type"), node_ns)
        elif kind == "array":
            visit(node.get("items"), node_ns)
        elif kind == "map":
            visit(node.get("values"), node_ns)

    visit(schema, "")
    return names


def _resolve(schema: Any, names: dict[str, dict], namespace: str) -> Any:
    """A schema node as a dict (or a list for unions), with named references looked up.

    Every returned dict carries ``_ns``, the namespace its own references resolve in.
    """
    if isinstance(schema, list):
        return [_resolve(branch, names, namespace) for branch in schema]
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return {"type": schema, "_ns": namespace}
        full = schema if "." in schema else f"{namespace}.{schema}" if namespace else schema
        named = names.get(full) or names.get(schema)
        if named is None:
            raise ValueError(f"unknown type name {schema!r}")
        return _tag(named, full.rpartition(".")[0])
    kind = schema.get("type")
    if isinstance(kind, (dict, list)):
        return _resolve(kind, names, namespace)
    if kind in PRIMITIVES or kind in ("array", "map"):
        return _tag(schema, namespace)
    if kind in NAMED:
        return _tag(schema, _full_name(schema, namespace).rpartition(".")[0])
    return _resolve(kind, names, namespace)


def _tag(node: dict, namespace: str) -> dict:
    node.setdefault("_ns", namespace)
    return node


def _full_name(node: dict, namespace: str) -> str:
    name = node["name"]
    if "." in name:
        return name
    ns = node.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _namespace_of(node: dict) -> str:
    return node.get("_ns", "")


def _names_match(w: dict, r: dict) -> bool:
    short = w["name"].rpartition(".")[2]
    aliases = {a.rpartition(".")[2] for a in r.get("aliases", [])}
    return short == r["name"].rpartition(".")[2] or short in aliases


def _type(node: Any) -> str:
    return "union" if isinstance(node, list) else node["type"]


def _is_named(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in NAMED


def _describe(node: Any) -> str:
    if isinstance(node, list):
        return _describe_all(node)
    kind = node["type"]
    return f"{kind} {node['name']}" if kind in NAMED else kind


def _describe_all(union: list) -> str:
    return "[" + ", ".join(_describe(b) for b in union) + "]"


def _join(path: str, name: str) -> str:
    if not name:
        return path
    return f"{path}.{name}" if path else name
