"""The catalogue: every schema version, its canonical form, and the fingerprint that names it."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from schemas.catalogue import ROOT, canonical_fingerprint, default_catalogue, load_catalogue
from schemas.errors import CatalogueError, UnknownFingerprint


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO written out from the Avro specification, as an independent check."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


# Published in the Avro project's schema-tests.txt as signed 64-bit integers.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('{"name":"foo","type":"fixed","size":15}', 1756455273707447556),
    ('{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
     7843277075252814651),
]


@pytest.mark.parametrize(("canonical", "published"), SPEC_VECTORS)
def test_fingerprints_match_the_avro_specification(canonical, published):
    expected = struct.pack("<q", published)

    assert canonical_fingerprint(canonical) == expected
    assert struct.pack("<Q", crc64_avro(canonical.encode())) == expected


def test_every_shipped_version_is_fingerprinted_by_its_canonical_form():
    for version in default_catalogue():
        assert version.fingerprint == struct.pack("<Q", crc64_avro(version.canonical_form.encode()))
        assert '"doc"' not in version.canonical_form
        assert "logicalType" not in version.canonical_form


def test_the_shipped_catalogue_holds_the_contract_versions():
    catalogue = default_catalogue()

    assert catalogue.names() == ["ops_event", "session_event"]
    assert catalogue.current("session_event").version == 3
    assert catalogue.current("session_event").full_name == "ledger.session.SessionEvent"
    assert catalogue.current("ops_event").version == 2
    assert catalogue.current("ops_event").full_name == "ledger.ops.OpsEvent"
    assert len({v.fingerprint for v in catalogue}) == 5


def test_every_field_says_what_it_means():
    def undocumented(schema, path):
        if isinstance(schema, list):
            for branch in schema:
                yield from undocumented(branch, path)
        elif isinstance(schema, dict):
            if schema.get("type") in ("record", "enum") and not schema.get("doc"):
                yield f"{path} ({schema['name']})"
            for field in schema.get("fields", []):
                if not field.get("doc"):
                    yield f"{path}.{field['name']}"
                yield from undocumented(field["type"], f"{path}.{field['name']}")
            if "items" in schema:
                yield from undocumented(schema["items"], path)

    for version in default_catalogue():
        assert list(undocumented(version.schema, version.label)) == []


def test_a_fingerprint_no_version_has_is_unknown():
    with pytest.raises(UnknownFingerprint):
        default_catalogue().by_fingerprint(b"\x01" * 8)


def copy_catalogue(tmp_path: Path) -> Path:
    root = tmp_path / "avro"
    shutil.copytree(ROOT, root)
    return root


def test_a_gap_in_the_version_numbers_is_refused(tmp_path):
    root = copy_catalogue(tmp_path)
    (root / "session_event" / "v2.avsc").rename(root / "session_event" / "v3.avsc")

    with pytest.raises(CatalogueError, match=r"without gaps; found \[1, 3\]"):
        load_catalogue(root)


def test_a_version_that_changes_nothing_on_the_wire_is_refused(tmp_path):
    root = copy_catalogue(tmp_path)
    schema = json.loads((root / "ops_event" / "v1.avsc").read_text())
    schema["doc"] = "reworded"
    (root / "ops_event" / "v2.avsc").write_text(json.dumps(schema))

    with pytest.raises(CatalogueError, match="same canonical form as ops_event v1"):
        load_catalogue(root)


def test_a_schema_file_that_is_not_json_is_named(tmp_path):
    root = copy_catalogue(tmp_path)
    (root / "ops_event" / "v2.avsc").write_text("{not json")

    with pytest.raises(CatalogueError) as caught:
        load_catalogue(root)
    assert caught.value.path.endswith("ops_event/v2.avsc")


def test_a_schema_file_that_is_not_avro_is_named(tmp_path):
    root = copy_catalogue(tmp_path)
    (root / "ops_event" / "v2.avsc").write_text(
        json.dumps({"type": "record", "name": "OpsEvent", "fields": [{"name": "x", "type": "nope"}]})
    )

    with pytest.raises(CatalogueError, match="not a valid Avro schema"):
        load_catalogue(root)


def test_a_badly_named_schema_file_is_refused(tmp_path):
    root = copy_catalogue(tmp_path)
    (root / "ops_event" / "latest.avsc").write_text("{}")

    with pytest.raises(CatalogueError, match="v1.avsc, v2.avsc"):
        load_catalogue(root)
