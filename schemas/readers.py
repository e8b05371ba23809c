"""Flat-record readers compiled once per writer schema: Avro body bytes in, one record out.

``compile_reader(writer, reader, layout)`` writes the Python source of one function that reads
a single-object message written with ``writer`` (header skipped, body read in the writer's
field order), resolves it to ``reader`` as Avro schema resolution does (fields the writer lacks
take the reader's default, fields the reader lacks are skipped, enum symbols map by name), and
returns the record in ``layout.columns`` order. Everything a per-record reader would look up
(field matching, enum tables, defaults, which payload branch suits which event type) is decided
here, once; the compiled function is straight-line code over ``bytes``.

The function checks, in the same pass, what Avro cannot (``layout.checks``: non-empty and
canonical ids, ranges, the payload branch against ``event_type``, the seq rule). It never
decides that a message is bad: whenever anything is off (a check fails, the bytes end early,
a varint is longer than 64 bits, a boolean byte is not 0 or 1, bytes are left over...) it
raises ``Reject``, and the caller reads that message again with the codec, whose verdict (an
event or a ``SchemaError``) stands. So the fast path may be stricter than the contract,
never looser: a canonical-only UUID check sends an upper-case UUID to the codec, which
normalises it.

A schema shape the generator does not know raises ``Unsupported`` at compile time; the caller
then reads that writer version with the codec alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from schemas.errors import Fatal, SchemaError

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
INT_MAX = 2**31 - 1

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MIN_MILLIS = (datetime(1, 1, 1, tzinfo=timezone.utc) - EPOCH) // timedelta(milliseconds=1)
MAX_MILLIS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc) - EPOCH) \
    // timedelta(milliseconds=1)
"""timestamp-millis values a ``datetime`` can hold; others are the codec's to report."""


class Reject(SchemaError, Fatal):
    """Raised by a compiled reader: this message needs the codec's careful reading. The batch
    decoder always catches it; one that escaped would be a bug."""


class Unsupported(SchemaError, Fatal):
    """The generator cannot compile this writer → reader pair; read it with the codec. The
    batch decoder always catches it; one that escaped would be a bug."""


CHECKS: dict[str, str] = {
    "nonempty": "if not {v}: raise _Reject",
    "nonneg": "if {v} < 0: raise _Reject",
    "int32_nonneg": f"if not 0 <= {{v}} <= {INT_MAX}: raise _Reject",
    "int32_positive": f"if not 1 <= {{v}} <= {INT_MAX}: raise _Reject",
    "percent": "if not 0.0 <= {v} <= 100.0: raise _Reject",
    "finite_nonneg": "if not 0.0 <= {v} <= 1.7976931348623157e308: raise _Reject",
}
"""Checks by name on the value just read into ``{v}``; NaN fails ``percent`` and
``finite_nonneg`` as it should, and so does infinity the latter.
``uuid`` (canonical lower-case UUID text) is checked on the bytes, before they are decoded."""

FAST_MILLIS = 2**32 * 1000
"""Below this (from 1970 to 2106) ``fromtimestamp(ms / 1000)`` is exact to the microsecond, and
about twice as fast as adding a timedelta to the epoch: the double's error stays under 0.5 us."""


@dataclass(frozen=True)
class Layout:
    """Where an Avro record's leaves go in a flat record, and what the contract asks of them.

    ``field_columns`` maps a dotted leaf path (``accessibility.subtitles``, payload fields as
    ``payload.<record name>.<field>``) to a column; ``checks`` maps a column to a ``CHECKS``
    name; ``branch_event_types`` maps a payload record name to the event types it may carry;
    ``row_check`` is one more condition on the columns (``c_<column>``) that rejects when true.
    """

    record_type: type
    field_columns: dict[str, str]
    checks: dict[str, str] = field(default_factory=dict)
    branch_event_types: dict[str, frozenset[str]] = field(default_factory=dict)
    list_columns: frozenset[str] = frozenset()
    row_check: str = ""
    branch_checks: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.record_type._fields


def compile_reader(writer: dict[str, Any], reader: dict[str, Any], layout: Layout,
                   name: str = "read", *, rows: bool = False) -> Callable[[bytes], tuple]:
    """The compiled reader of ``writer`` bodies as ``reader`` records; see the module doc.

    The function takes a whole single-object message and reads its body from byte 10.
    With ``rows`` it returns a plain tuple in the same column order, timestamps left as
    integer milliseconds since the epoch (range-checked as for a ``datetime``): the row a
    columnar insert takes, with no ``datetime`` made. Raises ``Unsupported`` for a schema
    shape it cannot compile.
    """
    source = _Generator(writer, reader, layout, millis=rows).source(name)
    namespace = dict(_RUNTIME, _Record=tuple if rows else layout.record_type)
    exec(compile(source, f"<schemas.readers {name}>", "exec"), namespace)  # noqa: S102
    function = namespace[name]
    function.source = source
    return function


def _read_varint(b: bytes, p: int, x: int) -> tuple[int, int]:
    """The rest of a varint whose first byte ``x`` (>= 0x80) was read; rejects past 64 bits."""
    x &= 0x7F
    shift = 7
    while True:
        byte = b[p]
        p += 1
        x |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:
            raise Reject
    if x >> 64:
        raise Reject
    return x, p


def _read_strings(b: bytes, p: int) -> tuple[list[str], int]:
    """An Avro array of strings (blocks of items, a negative count followed by a byte size)."""
    items: list[str] = []
    n = len(b)
    while True:
        x = b[p]
        p += 1
        if x > 0x7F:
            x, p = _read_varint(b, p, x)
        count = (x >> 1) ^ -(x & 1)
        if count == 0:
            return items, p
        if count < 0:
            count = -count
            x = b[p]
            p += 1
            if x > 0x7F:
                x, p = _read_varint(b, p, x)
        for _ in range(count):
            x = b[p]
            p += 1
            if x > 0x7F:
                x, p = _read_varint(b, p, x)
            e = p + (x >> 1)
            if x & 1 or e > n:
                raise Reject
            items.append(b[p:e].decode())
            p = e


_RUNTIME: dict[str, Any] = {
    "_Reject": Reject,
    "_varint": _read_varint,
    "_strings": _read_strings,
    "_HEX": b"0123456789abcdef",
    "_fromts": datetime.fromtimestamp,
    "_UTC": timezone.utc,
    "_float": struct.Struct("<f").unpack_from,
    "_double": struct.Struct("<d").unpack_from,
    "_EPOCH": EPOCH,
    "_delta": timedelta,
    "_BOOL": {0: False, 1: True},
    "_tuple_new": tuple.__new__,
}


class _Generator:
    def __init__(self, writer: dict, reader: dict, layout: Layout, millis: bool = False) -> None:
        self.writer, self.reader, self.layout = writer, reader, layout
        self.millis = millis
        self.lines: list[str] = []
        self.indent = 1
        self.constants: dict[str, Any] = {}
        self.writer_names = _named_types(writer)
        self.reader_names = _named_types(reader)
        self.assigned: set[str] = set()

    # -- output ---------------------------------------------------------------------------

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def constant(self, value: Any) -> str:
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    def source(self, name: str) -> str:
        if self.writer.get("type") != "record" or self.reader.get("type") != "record":
            raise Unsupported("the top level must be a record")
        fields = self.writer["fields"]
        if not fields or fields[-1]["name"] != "payload":
            raise Unsupported("payload must be the writer's last field")
        self.emit("n = len(b)")
        self.emit("p = 10")
        self.record(self.writer, self.reader, "", payload_last=True)
        self.emit("raise _Reject")
        body = "\n".join(self.lines)
        constants = "\n".join(f"{k} = {v!r}" for k, v in self.constants.items())
        return f"{constants}\n\ndef {name}(b):\n{body}\n"

    # -- schema walk ----------------------------------------------------------------------

    def record(self, w: dict, r: dict, prefix: str, payload_last: bool = False) -> None:
        reader_fields = {f["name"]: f for f in r["fields"]}
        writer_names = {f["name"] for f in w["fields"]}
        for rf in r["fields"]:
            if rf["name"] not in writer_names:
                if "default" not in rf:
                    raise Unsupported(f"reader field {prefix}{rf['name']} has no default")
                self.default(rf["type"], rf["default"], f"{prefix}{rf['name']}")
        for wf in w["fields"]:
            path = f"{prefix}{wf['name']}"
            if payload_last and wf is w["fields"][-1]:
                if wf["name"] not in reader_fields:
                    raise Unsupported("the reader has no payload")
                self.payload(wf["type"], reader_fields[wf["name"]]["type"], path)
            elif wf["name"] in reader_fields:
                self.value(wf["type"], reader_fields[wf["name"]]["type"], path)
            else:
                self.skip(wf["type"])

    def payload(self, w: Any, r: Any, path: str) -> None:
        w_branches = [self.named(b, self.writer_names) for b in _branches(w)]
        r_branches = {self.named(b, self.reader_names).get("name"): self.named(b, self.reader_names)
                      for b in _branches(r)}
        self.emit("x = b[p]")
        self.emit("p += 1")
        for index, branch in enumerate(w_branches):
            if not isinstance(branch, dict) or branch.get("type") != "record":
                raise Unsupported("payload branches must be records")
            target = r_branches.get(branch["name"])
            if target is None:
                continue  # a branch the reader cannot resolve: the codec reports it
            event_types = self.layout.branch_event_types.get(branch["name"])
            if event_types is None:
                raise Unsupported(f"no event type carries payload {branch['name']}")
            self.emit(f"if x == {index * 2}:")
            self.indent += 1
            before = set(self.assigned)
            self.record(branch, target, f"{path}.{branch['name']}.")
            self.emit("if p != n: raise _Reject")
            if len(event_types) == 1:
                self.emit(f"if c_event_type != {next(iter(event_types))!r}: raise _Reject")
            else:
                self.emit(f"if c_event_type not in {self.constant(event_types)}: raise _Reject")
            if self.layout.row_check:
                self.emit(f"if {self.layout.row_check}: raise _Reject")
            branch_check = self.layout.branch_checks.get(branch["name"])
            if branch_check:
                self.emit(f"if {branch_check}: raise _Reject")
            self.emit(f"return _tuple_new(_Record, ({self.row()}))")
            self.assigned = before
            self.indent -= 1

    def row(self) -> str:
        values = []
        for column in self.layout.columns:
            if column in self.assigned:
                values.append(f"c_{column}")
            elif column in self.layout.list_columns:
                values.append("[]")
            else:
                values.append("None")
        return ", ".join(values) + ","

    def column(self, path: str) -> str:
        try:
            column = self.layout.field_columns[path]
        except KeyError:
            raise Unsupported(f"no column for {path}") from None
        self.assigned.add(column)
        return column

    def default(self, r: Any, value: Any, path: str) -> None:
        r = self.named(r, self.reader_names)
        if isinstance(r, dict) and r.get("type") == "record":
            for rf in r["fields"]:
                sub = value.get(rf["name"], rf.get("default")) if isinstance(value, dict) else None
                self.default(rf["type"], sub, f"{path}.{rf['name']}")
            return
        if isinstance(value, (list, dict)):
            raise Unsupported(f"default of {path} is not a scalar")
        column = self.column(path)
        self.emit(f"c_{column} = {value!r}")

    def value(self, w: Any, r: Any, path: str) -> None:
        w, r = self.named(w, self.writer_names), self.named(r, self.reader_names)
        if isinstance(w, list) or isinstance(r, list):
            self.nullable(w, r, path)
            return
        kind = _kind(w)
        if kind == "record":
            if _kind(r) != "record":
                raise Unsupported(f"{path}: a record read as {_kind(r)}")
            self.record(w, r, f"{path}.")
            return
        column = self.column(path)
        self.read(w, r, path, f"c_{column}", self.layout.checks.get(column))

    def nullable(self, w: Any, r: Any, path: str) -> None:
        w_branches, r_branches = _branches(w), _branches(r)
        if (len(w_branches) != 2 or w_branches[0] != "null"
                or len(r_branches) != 2 or r_branches[0] != "null"):
            raise Unsupported(f"{path}: only unions of null and one type are compiled")
        column = self.column(path)
        self.emit("x = b[p]")
        self.emit("p += 1")
        self.emit("if x == 0:")
        self.emit("    v = None")
        self.emit("elif x == 2:")
        self.indent += 1
        self.read(self.named(w_branches[1], self.writer_names),
                  self.named(r_branches[1], self.reader_names), path, "v",
                  self.layout.checks.get(column))
        self.indent -= 1
        self.emit("else:")
        self.emit("    raise _Reject")
        self.emit(f"c_{column} = v")

    def read(self, w: Any, r: Any, path: str, v: str = "v", check: str | None = None) -> None:
        """Emit code that leaves the value of ``w`` read as ``r``, checked, in variable ``v``."""
        kind, target = _kind(w), _kind(r)
        if kind in ("int", "long") and target in ("int", "long"):
            self.varint()
            self.emit(f"{v} = (x >> 1) ^ -(x & 1)")
            if isinstance(r, dict) and r.get("logicalType") == "timestamp-millis" and self.millis:
                self.emit(f"if not {MIN_MILLIS} <= {v} <= {MAX_MILLIS}: raise _Reject")
            elif isinstance(r, dict) and r.get("logicalType") == "timestamp-millis":
                self.emit(f"if 0 <= {v} < {FAST_MILLIS}: {v} = _fromts({v} / 1000, _UTC)")
                self.emit(f"elif {MIN_MILLIS} <= {v} <= {MAX_MILLIS}: "
                          f"{v} = _EPOCH + _delta(0, 0, 0, {v})")
                self.emit("else: raise _Reject")
            elif isinstance(r, dict) and r.get("logicalType"):
                raise Unsupported(f"{path}: logical type {r['logicalType']}")
        elif kind == "string" and target == "string":
            self.varint()
            self.emit("e = p + (x >> 1)")
            self.emit("if x & 1 or e > n: raise _Reject")
            if check == "uuid":
                self.emit("u = b[p:e]")
                self.emit("if x != 72 or u.translate(None, _HEX) != b'----' "
                          "or u[8:24:5] != b'----': raise _Reject")
                self.emit(f"{v} = u.decode()")
                check = None
            else:
                self.emit(f"{v} = b[p:e].decode()")
            self.emit("p = e")
        elif kind == "boolean" and target == "boolean":
            self.emit(f"{v} = _BOOL[b[p]]")
            self.emit("p += 1")
        elif kind == "float" and target in ("float", "double"):
            self.emit(f"{v} = _float(b, p)[0]")
            self.emit("p += 4")
        elif kind == "double" and target == "double":
            self.emit(f"{v} = _double(b, p)[0]")
            self.emit("p += 8")
        elif kind == "enum" and target == "enum":
            self.emit(f"{v} = {self.constant(self.enum_table(w, r, path))}[b[p]]")
            self.emit("p += 1")
        elif kind == "array" and target == "array" and _kind(w["items"]) == "string" \
                and _kind(r["items"]) == "string":
            self.emit(f"{v}, p = _strings(b, p)")
        else:
            raise Unsupported(f"{path}: {kind} read as {target}")
        if check is not None:
            self.emit(CHECKS[check].format(v=v))

    def enum_table(self, w: dict, r: dict, path: str) -> dict[int, str]:
        """Zigzag-encoded writer index → reader symbol (the reader's default if it lacks one)."""
        if len(w["symbols"]) > 64:
            raise Unsupported(f"{path}: enums over 64 symbols take a multi-byte index")
        table = {}
        for index, symbol in enumerate(w["symbols"]):
            if symbol in r["symbols"]:
                table[index * 2] = symbol
            elif "default" in r:
                table[index * 2] = r["default"]
        return table

    def varint(self) -> None:
        self.emit("x = b[p]")
        self.emit("p += 1")
        self.emit("if x > 127: x, p = _varint(b, p, x)")

    def skip(self, w: Any) -> None:
        w = self.named(w, self.writer_names)
        kind = _kind(w)
        if kind == "record":
            for wf in w["fields"]:
                self.skip(wf["type"])
        elif kind in ("int", "long", "string", "boolean", "float", "double", "enum", "array"):
            self.read(w, w, "(skipped)")
        elif isinstance(w, list) and len(w) == 2 and w[0] == "null":
            self.emit("x = b[p]")
            self.emit("p += 1")
            self.emit("if x == 2:")
            self.indent += 1
            self.skip(w[1])
            self.indent -= 1
            self.emit("elif x: raise _Reject")
        else:
            raise Unsupported(f"cannot skip a {kind}")

    def named(self, schema: Any, names: dict[str, dict]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            try:
                return names[schema]
            except KeyError:
                raise Unsupported(f"unknown named type {schema}") from None
        return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    kind = schema.get("type")
    return kind if isinstance(kind, str) else "union"


def _branches(schema: Any) -> list[Any]:
    return schema if isinstance(schema, list) else [schema]


def _named_types(schema: Any, namespace: str = "", found: dict | None = None) -> dict[str, dict]:
    """Every named type in ``schema`` under its short and its full name."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, namespace, found)
    elif isinstance(schema, dict):
        if "type" in schema and not isinstance(schema["type"], str):
            _named_types(schema["type"], namespace, found)
        if schema.get("type") in ("record", "enum", "fixed"):
            namespace = schema.get("namespace", namespace)
            found[schema["name"]] = schema
            found[f"{namespace}.{schema['name']}" if namespace else schema["name"]] = schema
        for f in schema.get("fields", ()):
            _named_types(f["type"], namespace, found)
        if "items" in schema:
            _named_types(schema["items"], namespace, found)
    return found
