"""The read-only slice of ClickHouse's HTTP interface, as pure functions.

A request is the URL's parameters, its body and its headers; ``read_request`` turns them into a
``ReadRequest`` or raises ``ReadRefused``, whose ``body`` is what a ClickHouse server answers for
the same mistake (``Code: N. DB::Exception: ... (NAME)``), so clients show it as they would a
server's. Nothing here touches a socket or chDB.
"""
from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass, field
from typing import Mapping

from analytics.errors import ReadRefused

DEFAULT_FORMAT = "TabSeparated"
MAX_QUERY_BYTES = 256 * 1024
"""Longest query text accepted (URL and body together); ClickHouse's own default max_query_size."""

READ_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS")
"""First keywords of the statements served; every other statement is a write or DDL."""

TRANSPORT_PARAMETERS = frozenset({
    "query", "database", "default_format", "user", "password", "query_id", "quota_key",
    "session_id", "session_timeout", "session_check", "compress", "decompress",
    "enable_http_compression", "http_zlib_compression_level", "wait_end_of_query",
    "buffer_size", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "cancel_http_readonly_queries_on_client_close", "client_protocol_version", "readonly",
})
"""URL parameters that carry the request, not a setting to change (accepted, not applied:
each request is answered whole, uncompressed, in no server-side session)."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_FORMAT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_COMMENT = re.compile(r"--[^\n]*|#![^\n]*|/\*.*?\*/", re.S)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9]*)\s*;?\s*$", re.I)
_BINARY = {"Native", "RowBinary", "RowBinaryWithNames", "RowBinaryWithNamesAndTypes", "Arrow",
           "ArrowStream", "Parquet", "ORC", "Avro", "MsgPack", "Protobuf", "CapnProto"}


def readonly_refusal(what: str) -> ReadRefused:
    return ReadRefused(403, 164, "READONLY",
                   f"{what}: this is the ledger's read-only interface to the embedded warehouse; "
                   "only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN and EXISTS are served "
                   "(writes come from the sink)")


@dataclass(frozen=True)
class ReadRequest:
    """One read: the SQL, the output format, the database, and ``{name:Type}`` parameter values."""

    sql: str
    format: str = DEFAULT_FORMAT
    database: str = "default"
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return content_type(self.format)


def read_request(parameters: Mapping[str, str], body: bytes) -> ReadRequest:
    """The read a request asks for (query in ``query=``, the body, or both joined by a newline).

    ReadRefused: no query (400), one too long (413), a write or DDL (403, READONLY), ``readonly=0``
    or any setting other than the transport parameters (403, READONLY: a read-only server
    does not change settings), a bad database or format name (400).
    """
    text = (parameters.get("query", "") + ("\n" if parameters.get("query") and body else "")
            + body.decode("utf-8", "replace"))
    if len(text.encode()) > MAX_QUERY_BYTES:
        raise ReadRefused(413, 62, "SYNTAX_ERROR", f"the query is over {MAX_QUERY_BYTES} bytes")
    if not text.strip():
        raise ReadRefused(400, 62, "SYNTAX_ERROR", "Empty query: send it in the body or as ?query=")
    params: dict[str, str] = {}
    for name, value in parameters.items():
        if name.startswith("param_"):
            params[name.removeprefix("param_")] = value
        elif name == "readonly":
            if value not in ("1", "2"):
                raise ReadRefused(403, 164, "READONLY",
                              f"Cannot modify 'readonly' setting to {value!r}: this interface is read-only")
        elif name not in TRANSPORT_PARAMETERS:
            raise ReadRefused(403, 164, "READONLY", f"Cannot modify '{name}' setting in readonly mode")
    check_read_only(text)
    database = parameters.get("database") or "default"
    if not _IDENTIFIER.match(database):
        raise ReadRefused(400, 81, "UNKNOWN_DATABASE", f"Database name {database[:64]!r} is not an identifier")
    fmt = statement_format(text) or parameters.get("default_format") or DEFAULT_FORMAT
    if not _FORMAT_NAME.match(fmt):
        raise ReadRefused(400, 73, "UNKNOWN_FORMAT", f"Unknown output format {fmt[:64]!r}")
    return ReadRequest(sql=text, format=fmt, database=database, params=params)


def first_keyword(sql: str) -> str:
    """The statement's first word, upper-cased, after comments and opening parentheses."""
    stripped = _COMMENT.sub(" ", sql).lstrip(" \t\r\n(")
    match = re.match(r"[A-Za-z]+", stripped)
    return match.group(0).upper() if match else ""


def check_read_only(sql: str) -> None:
    """Raise ``ReadRefused`` (READONLY) unless ``sql`` starts a statement that only reads.

    The owner's connections are ``readonly=1`` and run one statement per query, so ClickHouse
    refuses anything this lets through (a second statement is its syntax error); this check
    refuses early and says why in the ledger's words.
    """
    keyword = first_keyword(sql)
    if keyword not in READ_STATEMENTS:
        raise readonly_refusal(f"Cannot execute {keyword or 'this'} query")


def statement_format(sql: str) -> str | None:
    """The format named by a trailing ``FORMAT <name>`` clause, if the query has one."""
    match = _TRAILING_FORMAT.search(_COMMENT.sub(" ", sql))
    return match.group(1) if match else None


def content_type(fmt: str) -> str:
    """The Content-Type a ClickHouse server sends with ``fmt``."""
    if fmt.startswith("JSON") and "EachRow" not in fmt and "Lines" not in fmt:
        return "application/json; charset=UTF-8"
    if fmt in _BINARY:
        return "application/octet-stream"
    if fmt.startswith("CSV"):
        return "text/csv; charset=UTF-8; header=absent"
    if fmt.startswith("TabSeparated") or fmt.startswith("TSV"):
        return "text/tab-separated-values; charset=UTF-8"
    return "text/plain; charset=UTF-8"


def presented_token(headers: Mapping[str, str], parameters: Mapping[str, str]) -> str | None:
    """The token a client presents, in any way ClickHouse clients send credentials:
    ``Authorization: Bearer <token>``; HTTP Basic with the token as password (any user);
    ``X-ClickHouse-Key``; or ``password=`` in the URL."""
    scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            return base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[2] or None
        except (ValueError, UnicodeDecodeError):
            return None
    return headers.get("X-ClickHouse-Key") or parameters.get("password") or None


def check_token(expected: str | None, headers: Mapping[str, str], parameters: Mapping[str, str]) -> None:
    """Raise ``ReadRefused`` (401, AUTHENTICATION_FAILED) unless the request presents ``expected``
    (None: the interface is open, as the worker's API is without LEDGER_API_TOKEN)."""
    if expected is None:
        return
    given = presented_token(headers, parameters)
    if given is None or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                                expected.encode("utf-8", "surrogateescape")):
        raise ReadRefused(401, 516, "AUTHENTICATION_FAILED",
                      "Authentication failed: send the owner's LEDGER_API_TOKEN as 'Authorization: Bearer "
                      "<token>', or as the password of any user")
