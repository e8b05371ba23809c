"""The emitter's Avro writer: one Python function per writer schema, compiled once.

``compile_writer(parsed)`` turns a parsed Avro schema (``SchemaVersion.parsed``) into a function
``write(record) -> bytes`` that writes the record's Avro binary body exactly as fastavro's
``schemaless_writer`` does (``schemas.codec.to_record`` makes the record), with the fields
unrolled into straight-line code: no walk of the schema per event. It covers the types the
ledger's schemas use (null, boolean, int, long, float, double, string, bytes, enum, record,
arrays, unions, timestamp-millis); a schema with anything else raises
``schemas.readers.Unsupported`` when compiled, and the codec writes its events.

The writer checks nothing that validation has not checked already: a datum it cannot write
raises (``KeyError``, ``TypeError``, ``AttributeError``, ``ValueError``, ``OverflowError`` or
``struct.error``), and the caller then encodes with ``schemas.codec`` for the error that names
the problem. Encoding was the largest part of ``SessionEmitter.emit``'s cost: about 9.5 µs per
session event through the codec (fastavro's writer), against about 3.6 µs here, the record
built by ``to_record`` included.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from schemas.catalogue import OPS_EVENT, SESSION_EVENT
from schemas.codec import MARKER, MAX_EVENT_BYTES, Codec, to_record
from schemas.models import Event, OpsEvent, SessionEvent
from schemas.readers import Unsupported  # the compilers' one signal: use the codec for this schema

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "string", "bytes"}


def zigzag_varint(n: int) -> bytes:
    """Avro's long: zig-zag, then little-endian base-128 varint."""
    if not -(1 << 63) <= n < (1 << 63):
        raise OverflowError(f"{n} does not fit an Avro long")
    n = (n << 1) ^ (n >> 63)
    out = []
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [zigzag_varint(n) for n in range(8192)]
"""The encoding of 0..8191 (one or two bytes): string lengths, enum and union indexes, and
most counts and durations."""


def _long(n: int) -> bytes:
    return _SMALL[n] if type(n) is int and 0 <= n < 8192 else zigzag_varint(n)


def _bytes(value: bytes) -> bytes:
    return _long(len(value)) + value


def _millis(value: datetime) -> int:
    """timestamp-millis of an aware datetime, as fastavro computes it."""
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no instant")
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


class _EnumTable(dict):
    """Symbol -> its encoded index. A str-valued enum member whose name differs from its value
    does not hash as its value: it is looked up by value."""

    def __missing__(self, key: Any) -> bytes:
        if isinstance(key, Enum):
            return self[key.value]
        raise KeyError(key)


class _Compiler:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}  # constants the generated code reads
        self.named: dict[str, dict] = {}  # named types seen, by full name
        self.counter = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.names)}"
        self.names[name] = value
        return name

    def var(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def write(self, schema: Any, value: str, indent: int) -> None:
        """Code appending the encoding of ``value`` (an expression) under ``schema`` to ``out``."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self.primitive(schema, value, indent, None)
            if schema in self.named:
                return self.write(self.named[schema], value, indent)
            raise Unsupported(f"unknown type {schema!r}")
        if isinstance(schema, list):
            return self.union(schema, value, indent)
        kind = schema.get("type")
        if kind == "record":
            self.named[schema["name"]] = schema
            for field in schema["fields"]:
                item = self.var()
                self.emit(indent, f"{item} = {value}[{field['name']!r}]")
                self.write(field["type"], item, indent)
            return None
        if kind == "enum":
            self.named[schema["name"]] = schema
            table = self.const(_EnumTable({symbol: _long(i) for i, symbol in enumerate(schema["symbols"])}))
            self.emit(indent, f"out += {table}[{value}]")
            return None
        if kind == "array":
            item = self.var()
            self.emit(indent, f"if {value}:")
            self.emit(indent + 1, f"out += _long(len({value}))")
            self.emit(indent + 1, f"for {item} in {value}:")
            self.write(schema["items"], item, indent + 2)
            self.emit(indent, "out += b'\\x00'")
            return None
        if kind in _PRIMITIVES:
            return self.primitive(kind, value, indent, schema.get("logicalType"))
        if isinstance(kind, (dict, list)):
            return self.write(kind, value, indent)
        raise Unsupported(f"type {kind!r}")

    def primitive(self, kind: str, value: str, indent: int, logical: str | None) -> None:
        if logical == "timestamp-millis" and kind == "long":
            self.emit(indent, f"out += _long(_millis({value}))")
        elif logical is not None:
            raise Unsupported(f"logical type {logical!r}")
        elif kind == "null":
            self.emit(indent, f"if {value} is not None: raise TypeError('null expected')")
        elif kind == "boolean":
            self.emit(indent, f"out += b'\\x01' if {value} else b'\\x00'")
        elif kind in ("int", "long"):
            self.emit(indent, f"out += _long({value})")
        elif kind == "float":
            self.emit(indent, f"out += _pack_f({value})")
        elif kind == "double":
            self.emit(indent, f"out += _pack_d({value})")
        elif kind == "string":
            self.emit(indent, f"_b = {value}.encode()")
            self.emit(indent, "_n = len(_b)")
            self.emit(indent, "out += _SMALL[_n] if _n < 8192 else zigzag_varint(_n)")
            self.emit(indent, "out += _b")
        else:  # bytes
            self.emit(indent, f"out += _bytes({value})")

    def union(self, branches: list, value: str, indent: int) -> None:
        """A union: a (name, datum) tuple picks the named branch; None picks null; anything
        else goes to the union's one other branch (with several, it must come as a tuple)."""
        null = next((i for i, b in enumerate(branches) if b == "null" or b == {"type": "null"}), None)
        others = [(i, b) for i, b in enumerate(branches) if i != null]
        named = {b["name"]: i for i, b in others if isinstance(b, dict) and "name" in b}
        first = True
        if named:
            self.emit(indent, f"if type({value}) is tuple:")
            self.emit(indent + 1, f"_name, {value} = {value}")
            for name, index in named.items():
                self.emit(indent + 1, f"{'if' if first else 'elif'} _name == {name!r}:")
                first = False
                self.emit(indent + 2, f"out += {self.const(_long(index))}")
                self.write(branches[index], value, indent + 2)
            self.emit(indent + 1, "else: raise ValueError(f'no branch {_name!r}')")
            first = False
        if null is not None:
            self.emit(indent, f"{'if' if first else 'elif'} {value} is None:")
            self.emit(indent + 1, f"out += {self.const(_long(null))}")
            first = False
        if len(others) == 1:
            index, branch = others[0]
            self.emit(indent, "else:" if not first else "if True:")
            self.emit(indent + 1, f"out += {self.const(_long(index))}")
            self.write(branch, value, indent + 1)
        elif named:
            self.emit(indent, "else: raise TypeError('this union takes (name, datum)')")
        else:
            raise Unsupported("a union of several unnamed branches")


def compile_writer(parsed: dict) -> Callable[[dict], bytes]:
    """``write(record) -> bytes``: the Avro body of ``record`` under ``parsed``, as fastavro
    writes it. Raises ``Unsupported`` for a schema with a type it does not cover."""
    compiler = _Compiler()
    compiler.write(parsed, "record", 1)
    body = "\n".join(compiler.lines)
    source = f"def write(record):\n    out = bytearray()\n{body}\n    return bytes(out)\n"
    namespace = {
        **compiler.names, "_long": _long, "_bytes": _bytes, "_millis": _millis, "_SMALL": _SMALL,
        "zigzag_varint": zigzag_varint, "_pack_f": struct.Struct("<f").pack,
        "_pack_d": struct.Struct("<d").pack,
    }
    exec(compile(source, f"<avro writer {parsed.get('name', '?')}>", "exec"), namespace)  # noqa: S102
    return namespace["write"]


class EventEncoder:
    """``encode(event)``: what ``codec.encode(event)`` returns, through the compiled writers.

    One writer per event type, compiled from the codec's current writer version; an event the
    compiled writer cannot write, one over the size limit, or a type without a writer is
    encoded by the codec itself, which raises the error that names the problem
    (``InvalidEvent``, ``EventTooLarge``).
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._writers: dict[type, tuple[bytes, Callable[[dict], bytes]]] = {}
        for model, name in ((SessionEvent, SESSION_EVENT), (OpsEvent, OPS_EVENT)):
            if name not in codec.catalogue.versions:
                continue
            current = codec.catalogue.current(name)
            try:
                self._writers[model] = (MARKER + current.fingerprint, compile_writer(current.parsed))
            except Unsupported:
                continue  # fastavro writes this one

    def encode(self, event: Event) -> bytes:
        writer = self._writers.get(type(event))
        if writer is not None:
            header, write = writer
            try:
                data = header + write(to_record(event))
            except (KeyError, TypeError, AttributeError, ValueError, OverflowError, struct.error):
                pass  # the codec says what is wrong with it
            else:
                if len(data) <= MAX_EVENT_BYTES:
                    return data
        return self.codec.encode(event)
