"""The one error tree: every error the ledger raises is a LedgerError of exactly one kind, the
kind says the exit code, and the map in schemas/errors.py names every class."""
from __future__ import annotations

import importlib
import inspect
import re
import pkgutil

import pytest

import schemas.errors
from schemas.errors import (
    KINDS, Fatal, InvalidInput, InvalidMessage, LedgerError, Unavailable, kind_of,
)

PACKAGES = ("schemas", "projections", "analytics", "streams", "ledger")
ROOTS = {"SchemaError", "ProjectionError", "AnalyticsError", "StreamsError"}
"""Package roots: never raised themselves, so of no kind."""
FAMILIES = {"EmitRejected", "ReaderHalted", "WorkerError", "ReplayError", "LoadgenError"}
"""Families whose members differ in kind (or that only group one package's errors)."""


def _modules():
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield root
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            yield importlib.import_module(info.name)


def _project_errors() -> dict[str, type[BaseException]]:
    """Every exception class defined in the project's packages, by name."""
    found = {}
    for module in _modules():
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__):
                found[name] = value
    return found


ERRORS = _project_errors()
RAISED = {name: cls for name, cls in ERRORS.items()
          if cls not in KINDS and cls is not LedgerError and name not in ROOTS | FAMILIES}


def test_the_tree_was_found():
    assert {"BadMarker", "DeadLetterFailed", "BadReportParameter", "RunAbandoned", "BadLoadOption",
            "NotASessionEvent", "FoldRefused", "WorkerNotReady"} <= set(RAISED)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_of_the_project_is_a_ledger_error(name):
    assert issubclass(ERRORS[name], LedgerError)


@pytest.mark.parametrize("name", sorted(RAISED))
def test_every_raised_error_is_of_exactly_one_kind(name):
    kinds = [kind.__name__ for kind in KINDS if issubclass(RAISED[name], kind)]
    assert len(kinds) == 1, f"{name} is of {kinds or 'no kind'}"


@pytest.mark.parametrize("name", sorted(ROOTS | FAMILIES))
def test_roots_and_families_leave_the_kind_to_their_members(name):
    assert not any(issubclass(ERRORS[name], kind) for kind in KINDS)


@pytest.mark.parametrize("name", sorted(RAISED))
def test_the_exit_code_is_the_kind_s(name):
    cls = RAISED[name]
    assert cls.exit_code == kind_of(cls.__new__(cls)).exit_code


def test_exit_codes_per_kind():
    assert (InvalidInput.exit_code, Unavailable.exit_code, InvalidMessage.exit_code, Fatal.exit_code) \
        == (2, 3, 2, 1)
    assert Unavailable.retryable and not any(k.retryable for k in (InvalidInput, InvalidMessage, Fatal))


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_the_map_names_every_error(name):
    assert re.search(rf"\b{name}\b", schemas.errors.__doc__), (
        f"add {name} to the map in schemas/errors.py, with its kind")


@pytest.mark.parametrize("name", sorted(RAISED))
def test_the_map_gives_each_error_its_kind(name):
    line = next(line for line in schemas.errors.__doc__.splitlines() if f" {name} " in line)
    assert kind_of(RAISED[name].__new__(RAISED[name])).__name__ in line


@pytest.mark.parametrize("name", sorted(n for n, c in RAISED.items() if issubclass(c, InvalidMessage)))
def test_an_invalid_message_has_a_reason_of_its_own(name):
    cls = RAISED[name]
    assert cls.code != InvalidMessage.code and cls.code in schemas.errors.__doc__


def test_input_errors_that_pydantic_or_click_meet_are_value_errors_too():
    for name in ("SettingsError", "BadReportParameter", "BadWindow", "BadWorkerOption", "BadStreamsOption",
                 "BadLoadOption", "UnknownGrouping"):
        assert issubclass(ERRORS[name], (InvalidInput, ValueError)) and issubclass(ERRORS[name], ValueError)


def test_a_dead_letter_failure_is_unavailable_but_not_retried():
    from streams.errors import DeadLetterFailed

    failed = DeadLetterFailed("t/0/1/sink", "dead", 5, "timed out")
    assert kind_of(failed) is Unavailable and failed.exit_code == 3 and not failed.retryable
