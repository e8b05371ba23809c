"""Every version of every Avro schema, indexed by name and by fingerprint.

Layout on disk: ``<root>/<schema name>/v<N>.avsc`` with N counting 1, 2, 3... without gaps.
The highest N is the current version: writers use it, readers resolve older and newer writer
versions to it. A version is identified on the wire by the CRC-64-AVRO fingerprint of its
Parsing Canonical Form (8 bytes, little-endian), as Avro single-object encoding prescribes.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from schemas.errors import CatalogueError, UnknownFingerprint

ROOT = Path(__file__).parent / "avro"
"""Where the shipped catalogue lives."""

SESSION_EVENT = "session_event"
OPS_EVENT = "ops_event"

_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")


@dataclass(frozen=True)
class SchemaVersion:
    """One ``.avsc`` file: the raw schema, its fastavro-parsed form and its fingerprint.

    ``parsed`` is what the codec reads and writes with; it reads UUID fields as strings.
    """

    name: str
    version: int
    path: Path
    schema: dict[str, Any] = field(repr=False)
    parsed: Any = field(repr=False, compare=False)
    canonical_form: str = field(repr=False)
    fingerprint: bytes

    @property
    def full_name(self) -> str:
        """The Avro full name of the top-level record, e.g. ``ledger.session.SessionEvent``."""
        namespace = self.schema.get("namespace")
        return f"{namespace}.{self.schema['name']}" if namespace else self.schema["name"]

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class Catalogue:
    """All schema versions under one root."""

    root: Path
    versions: dict[str, tuple[SchemaVersion, ...]]
    _by_fingerprint: dict[bytes, SchemaVersion] = field(repr=False)

    def __iter__(self) -> Iterator[SchemaVersion]:
        for versions in self.versions.values():
            yield from versions

    def names(self) -> list[str]:
        return sorted(self.versions)

    def current(self, name: str) -> SchemaVersion:
        """The newest version of ``name``: the one writers use."""
        return self._versions_of(name)[-1]

    def version(self, name: str, version: int) -> SchemaVersion:
        versions = self._versions_of(name)
        if not 1 <= version <= len(versions):
            raise CatalogueError(
                str(self.root / name),
                f"no version {version}; versions 1..{len(versions)} exist",
            )
        return versions[version - 1]

    def by_fingerprint(self, fingerprint: bytes) -> SchemaVersion:
        """The version whose canonical form has this fingerprint, or ``UnknownFingerprint``."""
        try:
            return self._by_fingerprint[fingerprint]
        except KeyError:
            known = [f"{v.label}={v.fingerprint.hex()}" for v in self]
            raise UnknownFingerprint(bytes(fingerprint), known) from None

    def _versions_of(self, name: str) -> tuple[SchemaVersion, ...]:
        try:
            return self.versions[name]
        except KeyError:
            raise CatalogueError(
                str(self.root / name), f"no such schema; known: {', '.join(self.names())}"
            ) from None


def canonical_fingerprint(canonical_form: str) -> bytes:
    """CRC-64-AVRO of a Parsing Canonical Form, as the 8 little-endian bytes put on the wire."""
    return bytes.fromhex(fingerprint(canonical_form, "CRC-64-AVRO"))


def load_version(name: str, path: Path) -> SchemaVersion:
    """Read, parse and fingerprint one ``v<N>.avsc`` file."""
    match = _VERSION_FILE.match(path.name)
    if match is None:
        raise CatalogueError(str(path), "schema files must be named v1.avsc, v2.avsc, ...")
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(str(path), f"cannot read the file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CatalogueError(str(path), f"not valid JSON: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise CatalogueError(str(path), "the top level must be an Avro record")
    try:
        parsed = parse_schema(_uuids_as_strings(schema))
    except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise CatalogueError(str(path), f"not a valid Avro schema: {exc}") from exc
    canonical = to_parsing_canonical_form(schema)
    return SchemaVersion(
        name=name,
        version=int(match.group(1)),
        path=path,
        schema=schema,
        parsed=parsed,
        canonical_form=canonical,
        fingerprint=canonical_fingerprint(canonical),
    )


def load_catalogue(root: Path | str | None = None) -> Catalogue:
    """Load every schema version under ``root`` (default: the shipped ``schemas/avro``)."""
    root = Path(root) if root is not None else ROOT
    if not root.is_dir():
        raise CatalogueError(str(root), "directory does not exist")
    versions: dict[str, tuple[SchemaVersion, ...]] = {}
    by_fingerprint: dict[bytes, SchemaVersion] = {}
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        loaded = sorted(
            (load_version(directory.name, path) for path in directory.glob("*.avsc")),
            key=lambda v: v.version,
        )
        if not loaded:
            continue
        _check_sequence(directory, loaded)
        for version in loaded:
            clash = by_fingerprint.get(version.fingerprint)
            if clash is not None:
                raise CatalogueError(
                    str(version.path),
                    f"same canonical form as {clash.label}: nothing changes on the wire, so "
                    "this is not a new version (a doc-only change may edit the file in place)",
                )
            by_fingerprint[version.fingerprint] = version
        versions[directory.name] = tuple(loaded)
    if not versions:
        raise CatalogueError(str(root), "no <schema>/v<N>.avsc files found")
    return Catalogue(root=root, versions=versions, _by_fingerprint=by_fingerprint)


def _uuids_as_strings(schema: Any) -> Any:
    """A copy without ``logicalType: uuid``, so UUIDs are read as canonical strings.

    Logical types are not part of the Parsing Canonical Form, so this changes nothing on the
    wire; it spares building a ``uuid.UUID`` per field only to turn it back into a string.
    """
    if isinstance(schema, list):
        return [_uuids_as_strings(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: _uuids_as_strings(value)
        for key, value in schema.items()
        if not (key == "logicalType" and value == "uuid")
    }


def _check_sequence(directory: Path, loaded: list[SchemaVersion]) -> None:
    numbers = [v.version for v in loaded]
    if numbers != list(range(1, len(loaded) + 1)):
        raise CatalogueError(
            str(directory), f"versions must run 1..N without gaps; found {numbers}"
        )
    names = {v.full_name for v in loaded}
    if len(names) > 1:
        raise CatalogueError(
            str(directory), f"all versions must name the same record; found {sorted(names)}"
        )


@functools.cache
def default_catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process."""
    return load_catalogue(ROOT)
