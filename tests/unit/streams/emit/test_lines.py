"""`ledger emit` reads bounded lines: a giant line is refused without being held in memory."""
from __future__ import annotations

import io

from streams.emit.lines import MAX_LINE_CHARS, bounded_lines


def test_lines_within_the_bound_come_through_unchanged():
    stream = io.StringIO('{"a": 1}\n{"b": 2}\n')
    assert list(bounded_lines(stream)) == ['{"a": 1}\n', '{"b": 2}\n']


def test_a_line_over_the_bound_becomes_none_and_the_next_line_is_still_read():
    giant = "x" * (MAX_LINE_CHARS * 3)
    stream = io.StringIO(f'{{"a": 1}}\n{giant}\n{{"c": 3}}\n')
    assert list(bounded_lines(stream)) == ['{"a": 1}\n', None, '{"c": 3}\n']


def test_a_line_exactly_at_the_bound_is_kept_and_a_final_line_without_newline_too():
    exact = "y" * MAX_LINE_CHARS
    stream = io.StringIO(f"{exact}\nlast")
    assert list(bounded_lines(stream, MAX_LINE_CHARS + 1)) == [exact + "\n", "last"]


def test_a_giant_last_line_without_newline_is_refused():
    stream = io.StringIO('{"a": 1}\n' + "z" * (MAX_LINE_CHARS + 10))
    assert list(bounded_lines(stream)) == ['{"a": 1}\n', None]
