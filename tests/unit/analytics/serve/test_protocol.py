"""What the read-only HTTP interface serves and refuses, decided without a socket or chDB."""
from __future__ import annotations

import base64

import pytest

from analytics.errors import ReadRefused
from analytics.serve.protocol import (
    MAX_QUERY_BYTES, check_read_only, check_token, content_type, first_keyword, read_request,
    statement_format,
)


def test_a_query_in_the_url_and_the_body_are_joined_by_a_newline():
    request = read_request({"query": "SELECT count()"}, b"FROM session_events")

    assert request.sql == "SELECT count()\nFROM session_events"
    assert (request.format, request.database) == ("TabSeparated", "default")


def test_a_format_clause_wins_over_default_format():
    assert read_request({"default_format": "CSV"}, b"SELECT 1 FORMAT JSONEachRow").format == "JSONEachRow"
    assert read_request({"default_format": "CSV"}, b"SELECT 1").format == "CSV"


def test_parameters_and_the_database_travel_with_the_read():
    request = read_request({"param_region": "eu-west", "database": "system", "readonly": "1"},
                           b"SELECT {region:String}")

    assert request.params == {"region": "eu-west"} and request.database == "system"


@pytest.mark.parametrize("sql", [
    "INSERT INTO session_events SELECT * FROM session_events",
    "DROP TABLE session_events",
    "  /* a comment */ ALTER TABLE ops_events DELETE WHERE 1",
    "CREATE TABLE x (a UInt8) ENGINE = Memory",
    "SET max_execution_time = 0",
    "OPTIMIZE TABLE session_events FINAL",
    "SYSTEM SHUTDOWN",
])
def test_writes_ddl_and_settings_are_refused(sql):
    with pytest.raises(ReadRefused) as refused:
        read_request({}, sql.encode())

    assert refused.value.status in (400, 403)
    assert refused.value.body.startswith(f"Code: {refused.value.code}. DB::Exception: ")


@pytest.mark.parametrize("sql", [
    "SELECT 1", "with x as (select 1) select * from x", "-- note\nSHOW TABLES", "(SELECT 1)",
    "DESCRIBE TABLE session_events", "EXPLAIN SELECT 1", "EXISTS TABLE ops_events", "SELECT ';' AS semicolon;",
])
def test_reads_pass(sql):
    check_read_only(sql)


def test_a_write_is_refused_as_clickhouse_refuses_it_in_readonly_mode():
    with pytest.raises(ReadRefused) as refused:
        check_read_only("TRUNCATE TABLE session_events")

    assert (refused.value.status, refused.value.code, refused.value.name) == (403, 164, "READONLY")
    assert "TRUNCATE" in str(refused.value)


@pytest.mark.parametrize("parameters", [{"readonly": "0"}, {"max_execution_time": "0"},
                                        {"max_result_rows": "0"}, {"allow_ddl": "1"}])
def test_a_setting_cannot_be_changed(parameters):
    with pytest.raises(ReadRefused) as refused:
        read_request(parameters, b"SELECT 1")

    assert refused.value.name == "READONLY"


def test_an_empty_or_oversized_query_and_bad_names_are_refused():
    for parameters, body in [({}, b"  "), ({}, b"SELECT '" + b"x" * MAX_QUERY_BYTES + b"'"),
                             ({"database": "x; DROP"}, b"SELECT 1"), ({"default_format": "../etc"}, b"SELECT 1")]:
        with pytest.raises(ReadRefused):
            read_request(parameters, body)


def test_first_keyword_and_format_clause():
    assert first_keyword("/* c */ -- d\n  (select 1)") == "SELECT"
    assert statement_format("SELECT 1 FORMAT Pretty;") == "Pretty"
    assert statement_format("SELECT 'FORMAT x' AS f") is None


def test_content_types_are_clickhouse_s():
    assert content_type("JSON").startswith("application/json")
    assert content_type("Native") == "application/octet-stream"
    assert content_type("TabSeparatedWithNames").startswith("text/tab-separated-values")


@pytest.mark.parametrize("headers, parameters", [
    ({"Authorization": "Bearer tok"}, {}),
    ({"Authorization": "Basic " + base64.b64encode(b"default:tok").decode()}, {}),
    ({"X-ClickHouse-Key": "tok"}, {}),
    ({}, {"password": "tok"}),
])
def test_the_token_is_accepted_however_a_clickhouse_client_sends_it(headers, parameters):
    check_token("tok", headers, parameters)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"},
                                     {"Authorization": "Basic " + base64.b64encode(b"tok").decode()}])
def test_a_missing_or_wrong_token_is_refused(headers):
    with pytest.raises(ReadRefused) as refused:
        check_token("tok", headers, {})

    assert (refused.value.status, refused.value.name) == (401, "AUTHENTICATION_FAILED")
    assert "tok" not in str(refused.value).replace("token", "")


def test_without_a_token_the_interface_is_open():
    check_token(None, {}, {})
