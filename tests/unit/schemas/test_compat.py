"""Schema evolution: which changes let old and new versions read each other's data."""

from __future__ import annotations

import json
from io import BytesIO

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.catalogue import Catalogue, load_catalogue
from schemas.compat import (
    BACKWARD,
    FORWARD,
    Finding,
    check,
    check_catalogue,
    default_problems,
    resolution_problems,
)

INCOMPATIBLE = "schemas/fixtures/incompatible"


def record(*fields, name="Thing"):
    return {"type": "record", "name": name, "namespace": "test", "fields": list(fields)}


def field(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


def enum(*symbols, **extra):
    return {"type": "enum", "name": "Colour", "symbols": list(symbols), **extra}


def fastavro_reads(writer, reader, datum) -> bool:
    """What a real Avro reader does with the datum: the ground truth for the checker."""
    buffer = BytesIO()
    schemaless_writer(buffer, parse_schema(writer), datum)
    buffer.seek(0)
    try:
        schemaless_reader(buffer, parse_schema(writer), parse_schema(reader))
    except Exception:  # noqa: BLE001 - any failure to read counts as "cannot read"
        return False
    return True


CASES = [
    # (story, writer, reader, a datum that exercises the change, compatible?)
    ("a new field with a default",
     record(field("a", "int")), record(field("a", "int"), field("b", "string", default="")),
     {"a": 1}, True),
    ("a new field without a default",
     record(field("a", "int")), record(field("a", "int"), field("b", "string")),
     {"a": 1}, False),
    ("a field the reader dropped",
     record(field("a", "int"), field("b", "string")), record(field("a", "int")),
     {"a": 1, "b": "x"}, True),
    ("int promoted to long", record(field("a", "int")), record(field("a", "long")), {"a": 1}, True),
    ("int promoted to double", record(field("a", "int")), record(field("a", "double")), {"a": 1}, True),
    ("float promoted to double",
     record(field("a", "float")), record(field("a", "double")), {"a": 1.5}, True),
    ("long narrowed to int", record(field("a", "long")), record(field("a", "int")), {"a": 1}, False),
    ("string read as bytes", record(field("a", "string")), record(field("a", "bytes")), {"a": "x"}, True),
    ("int changed to string", record(field("a", "int")), record(field("a", "string")), {"a": 1}, False),
    ("an enum symbol the reader lacks",
     record(field("c", enum("red", "blue"))), record(field("c", enum("red"))),
     {"c": "blue"}, False),
    ("an enum symbol the reader lacks, with an enum default",
     record(field("c", enum("red", "blue"))), record(field("c", enum("red", default="red"))),
     {"c": "blue"}, True),
    ("an enum symbol added for the reader",
     record(field("c", enum("red"))), record(field("c", enum("red", "blue"))), {"c": "red"}, True),
    ("a value made nullable",
     record(field("a", "string")), record(field("a", ["null", "string"])), {"a": "x"}, True),
    ("a nullable value made required",
     record(field("a", ["null", "string"])), record(field("a", "string")), {"a": None}, False),
    ("a union branch the reader dropped",
     record(field("a", ["int", "string"])), record(field("a", ["int"])), {"a": "x"}, False),
    ("a union branch promoted",
     record(field("a", ["null", "int"])), record(field("a", ["null", "long"])), {"a": 3}, True),
    ("a nested record renamed",
     record(field("n", record(field("x", "int"), name="Inner"))),
     record(field("n", record(field("x", "int"), name="Renamed"))),
     {"n": {"x": 1}}, False),
    ("a nested record renamed with an alias",
     record(field("n", record(field("x", "int"), name="Inner"))),
     record(field("n", {**record(field("x", "int"), name="Renamed"), "aliases": ["Inner"]})),
     {"n": {"x": 1}}, True),
    ("array items promoted",
     record(field("a", {"type": "array", "items": "int"})),
     record(field("a", {"type": "array", "items": "long"})), {"a": [1]}, True),
    ("map values changed",
     record(field("m", {"type": "map", "values": "int"})),
     record(field("m", {"type": "map", "values": "boolean"})), {"m": {"k": 1}}, False),
]


@pytest.mark.parametrize(
    ("writer", "reader", "datum", "compatible"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_checker_agrees_with_what_a_real_reader_does(writer, reader, datum, compatible):
    problems = resolution_problems(writer, reader)

    assert (problems == []) is compatible, problems
    assert fastavro_reads(writer, reader, datum) is compatible


def test_a_problem_names_the_field_path_through_nested_records():
    writer = record(field("outer", record(field("inner", "long"), name="Inner")))
    reader = record(field("outer", record(field("inner", "int"), name="Inner")))

    [(path, problem)] = resolution_problems(writer, reader)

    assert path == "outer.inner"
    assert "long to int" in problem


def test_named_types_are_followed_by_reference():
    writer = record(field("a", enum("red", "blue")), field("b", "Colour"))
    reader = record(field("a", enum("red", "blue")), field("b", "test.Colour"))
    assert resolution_problems(writer, reader) == []

    narrower = record(field("a", enum("red", "blue", "green")), field("b", "Colour"))
    paths = [path for path, _ in resolution_problems(narrower, reader)]
    assert paths == ["a"]  # a named type is checked once, where it is defined


def test_the_shipped_catalogue_is_compatible_in_both_directions():
    assert check_catalogue() == []
    assert check_catalogue(transitive=True) == []


def ops_versions(tmp_path, new_kinds):
    """ops_event v1, and a v2 that adds the kind `scaled` (payload record Scaled) and declares
    ``new_kinds``."""
    from schemas.catalogue import ROOT

    v1 = json.loads((ROOT / "ops_event" / "v1.avsc").read_text())
    v2 = json.loads(json.dumps(v1))
    v2["fields"][3]["type"]["symbols"].append("scaled")
    v2["fields"][4]["type"].append(record(field("size", "long", doc="d"), name="Scaled"))
    if new_kinds is not None:
        v2["newEventKinds"] = new_kinds
    root = tmp_path / "avro" / "ops_event"
    root.mkdir(parents=True)
    (root / "v1.avsc").write_text(json.dumps(v1))
    (root / "v2.avsc").write_text(json.dumps(v2))
    return root.parent


def test_a_new_event_kind_fails_forward_unless_the_version_declares_it(tmp_path):
    undeclared = check_catalogue(ops_versions(tmp_path / "a", None))
    # the symbol alone reads as v1's enum default (anomaly_detected); the payload branch cannot
    assert {(f.direction, f.path) for f in undeclared} == {(FORWARD, "payload.Scaled")}

    assert check_catalogue(ops_versions(tmp_path / "b", {"scaled": "Scaled"})) == []
    # the symbol alone does not excuse the record
    assert {f.path for f in check_catalogue(ops_versions(tmp_path / "c", {"scaled": "Other"}))} == {
        "payload.Scaled"}


def test_declaring_a_new_kind_excuses_nothing_else(tmp_path):
    root = ops_versions(tmp_path, {"scaled": "Scaled"})
    v2 = json.loads((root / "ops_event" / "v2.avsc").read_text())
    v2["fields"][4]["type"][1]["fields"].append(field("build", "string", doc="no default"))
    (root / "ops_event" / "v2.avsc").write_text(json.dumps(v2))

    findings = check_catalogue(root)

    assert {(f.direction, f.path) for f in findings} == {(BACKWARD, "payload.Deploy.build")}


def test_the_incompatible_fixture_is_rejected_naming_each_field():
    findings = check_catalogue(INCOMPATIBLE)

    assert {(f.direction, f.path) for f in findings} == {
        (BACKWARD, "shard"),
        (BACKWARD, "payload.Heartbeat.latency_ms"),
        (BACKWARD, "payload.Disconnected.reason"),
        (FORWARD, "payload.Heartbeat.latency_ms"),
    }
    assert all(f.schema == "session_event" for f in findings)
    shard = next(f for f in findings if f.path == "shard")
    assert (shard.writer_version, shard.reader_version) == (1, 2)
    assert str(shard).startswith("session_event v2 reading v1 (backward): shard:")


def test_a_version_is_checked_against_every_earlier_one_when_asked(tmp_path):
    v1 = record(field("a", "int"))
    v2 = record(field("a", "int", default=0), field("b", "string", default=""))
    v3 = record(field("b", "string", default=""), field("c", "long", default=0))
    catalogue = catalogue_of(tmp_path, v1, v2, v3)

    assert check(catalogue) == []
    transitive = check(catalogue, transitive=True)
    # v1 readers need "a", which v3 no longer writes and v1 has no default for
    assert transitive == [Finding("thing", 3, 1, FORWARD, "a", transitive[0].problem)]


def test_a_default_that_does_not_fit_its_type_is_found():
    schema = record(
        field("a", ["null", "string"], default="x"),
        field("b", "int", default="zero"),
        field("c", enum("red", "blue"), default="green"),
        field("d", ["string", "null"], default="ok"),
        field("e", {"type": "array", "items": "int"}, default=[]),
    )

    assert [path for path, _ in default_problems(schema)] == ["a", "b", "c"]


def test_a_bad_default_is_reported_for_the_version_that_has_it(tmp_path):
    catalogue = catalogue_of(tmp_path, record(field("a", ["null", "string"], default="none")))

    [finding] = check(catalogue)

    assert (finding.direction, finding.path, finding.writer_version) == ("definition", "a", 1)
    assert str(finding).startswith("thing v1: a: default 'none' does not fit null")


def catalogue_of(tmp_path, *versions) -> Catalogue:
    folder = tmp_path / "thing"
    folder.mkdir()
    for number, schema in enumerate(versions, start=1):
        (folder / f"v{number}.avsc").write_text(json.dumps(schema))
    return load_catalogue(tmp_path)
