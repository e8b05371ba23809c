"""The Python models and the current .avsc files describe the same contract, field for field."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from enum import Enum

import pytest
from pydantic import BaseModel

from schemas.catalogue import default_catalogue
from schemas.models import OPS_PAYLOADS, SESSION_PAYLOADS, OpsEvent, SessionEvent

AVRO_TO_PYTHON = {
    "string": str,
    "long": int,
    "int": int,
    "boolean": bool,
    "float": float,
    "double": float,
}


def split_optional(annotation):
    """(the non-null part of an annotation, constraints stripped, whether it admits None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [bare(a) for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else tuple(args)), optional
    return annotation, False


def bare(annotation):
    """``Annotated[T, ...]`` as ``T``; anything else as it is."""
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def disagreements(model: type[BaseModel], record: dict, payloads: dict) -> list[str]:
    """Every way ``model`` and the Avro ``record`` differ, as readable sentences."""
    where = f"{model.__name__} vs {record['name']}"
    found: list[str] = []
    avro_fields = {f["name"]: f for f in record["fields"]}
    if set(avro_fields) != set(model.model_fields):
        found.append(f"{where}: fields differ: only in Avro {sorted(set(avro_fields) - set(model.model_fields))}, "
                     f"only in Python {sorted(set(model.model_fields) - set(avro_fields))}")
    for name in set(avro_fields) & set(model.model_fields):
        avro_type = avro_fields[name]["type"]
        python_type, py_optional = split_optional(model.model_fields[name].annotation)
        avro_optional = isinstance(avro_type, list) and "null" in avro_type
        if avro_optional != py_optional:
            found.append(f"{where}.{name}: nullable in Avro={avro_optional}, in Python={py_optional}")
        if isinstance(avro_type, list):
            branches = [b for b in avro_type if b != "null"]
            if name == "payload":
                found += union_disagreements(where, branches, payloads)
                continue
            avro_type = branches[0]
        found += type_disagreements(f"{where}.{name}", avro_type, python_type, payloads)
    return found


def type_disagreements(where: str, avro_type, python_type, payloads) -> list[str]:
    if isinstance(avro_type, str):
        expected = AVRO_TO_PYTHON[avro_type]
        return [] if python_type is expected else [f"{where}: Avro {avro_type} but Python {python_type}"]
    kind = avro_type["type"]
    if avro_type.get("logicalType") == "timestamp-millis":
        return [] if python_type is datetime else [f"{where}: timestamp but Python {python_type}"]
    if avro_type.get("logicalType") == "uuid":
        return [] if python_type is str else [f"{where}: uuid but Python {python_type}"]
    if kind == "enum":
        if not (isinstance(python_type, type) and issubclass(python_type, Enum)):
            return [f"{where}: Avro enum {avro_type['name']} but Python {python_type}"]
        problems = []
        if python_type.__name__ != avro_type["name"]:
            problems.append(f"{where}: enum named {avro_type['name']} in Avro, {python_type.__name__} in Python")
        if [m.value for m in python_type] != avro_type["symbols"]:
            problems.append(f"{where}: symbols {avro_type['symbols']} in Avro, "
                            f"{[m.value for m in python_type]} in Python")
        return problems
    if kind == "array":
        if typing.get_origin(python_type) is not tuple:
            return [f"{where}: Avro array but Python {python_type}"]
        return type_disagreements(f"{where}[]", avro_type["items"], typing.get_args(python_type)[0], payloads)
    if kind == "record":
        return disagreements(python_type, avro_type, payloads)
    return type_disagreements(where, kind, python_type, payloads)


def union_disagreements(where: str, branches: list[dict], payloads: dict) -> list[str]:
    models = {m.__name__: m for m in payloads.values()}
    by_name = {b["name"]: b for b in branches}
    if set(by_name) != set(models):
        return [f"{where}.payload: Avro branches {sorted(by_name)} but Python payloads {sorted(models)}"]
    return [problem for name, model in models.items()
            for problem in disagreements(model, by_name[name], payloads)]


@pytest.mark.parametrize(
    ("model", "schema_name", "payloads"),
    [(SessionEvent, "session_event", SESSION_PAYLOADS), (OpsEvent, "ops_event", OPS_PAYLOADS)],
)
def test_the_models_match_the_current_schema(model, schema_name, payloads):
    current = default_catalogue().current(schema_name)
    assert disagreements(model, current.schema, payloads) == []


def test_the_event_type_names_the_payload_record_for_session_events():
    schema = default_catalogue().current("session_event").schema
    doc = next(f["doc"] for f in schema["fields"] if f["name"] == "event_type")
    for event_type, payload in SESSION_PAYLOADS.items():
        assert f"{event_type.value} -> {payload.__name__}" in doc


def test_the_comparison_notices_a_difference():
    schema = default_catalogue().current("session_event").schema
    changed = {**schema, "fields": [
        {**f, "type": ["null", "string"]} if f["name"] == "region" else f
        for f in schema["fields"] if f["name"] != "party_id"
    ]}

    found = disagreements(SessionEvent, changed, SESSION_PAYLOADS)

    assert any("only in Python ['party_id']" in problem for problem in found)
    assert any("region: nullable in Avro=True" in problem for problem in found)
